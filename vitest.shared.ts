import { mergeConfig, type UserWorkspaceConfig } from 'vitest/config';

/**
 * Every package's vitest project goes through this, so that workspace packages resolve to their
 * TypeScript source (the `fleet-source` export condition) instead of a possibly stale `dist/`.
 */
export function fleetProject(config: UserWorkspaceConfig): UserWorkspaceConfig {
  const conditions = ['fleet-source'];
  // SSR (node) resolution gets only our condition on top of vite's own: adding `import` makes
  // the CommonJS `pg` (under @prisma/adapter-pg) load pg-pool's ESM build through require and
  // fail with "Class extends value [object Module] is not a constructor".
  return mergeConfig(
    {
      resolve: { conditions: [...conditions, 'module', 'browser', 'development|production'] },
      ssr: { resolve: { conditions, externalConditions: conditions } },
      // vitest's 5 s default is a wall-time assertion in disguise: jsdom component tests took
      // 5.3-5.5 s in a CI run at load 25 and failed. Projects with real processes set their own.
      test: { testTimeout: 30_000 },
    },
    config,
  );
}

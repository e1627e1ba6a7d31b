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
    },
    config,
  );
}

import { mergeConfig, type UserWorkspaceConfig } from 'vitest/config';

/**
 * Every package's vitest project goes through this, so that workspace packages resolve to their
 * TypeScript source (the `fleet-source` export condition) instead of a possibly stale `dist/`.
 */
export function fleetProject(config: UserWorkspaceConfig): UserWorkspaceConfig {
  const conditions = ['fleet-source'];
  return mergeConfig(
    {
      resolve: { conditions: [...conditions, 'module', 'node', 'import', 'default'] },
      ssr: { resolve: { conditions: [...conditions, 'node', 'import', 'default'], externalConditions: conditions } },
    },
    config,
  );
}

import { defineConfig } from 'vitest/config';

// Real parts: run as root against the machine's services (Postgres, brokers). Files run one at
// a time because they share machine state (ports, the Postgres server).
//
// Resolution: workspace packages resolve to their TypeScript source (`fleet-source`), as
// ../vitest.shared.ts does, but without adding `import` to the SSR conditions: with it, the
// CommonJS `pg` (under @prisma/adapter-pg) gets pg-pool's ESM build from `require` and fails
// with "Class extends value [object Module] is not a constructor".
export default defineConfig({
  resolve: { conditions: ['fleet-source'] },
  ssr: { resolve: { conditions: ['fleet-source'], externalConditions: ['fleet-source'] } },
  test: {
    name: 'hub:integration',
    include: ['test/integration/**/*.test.ts'],
    environment: 'node',
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});

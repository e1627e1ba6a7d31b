import { fleetProject } from '../vitest.shared.js';

// End to end: a real hub (Postgres, embedded broker) and Debian's chromium driven by
// playwright-core against the built dashboard. One file at a time: it owns ports and a database.
export default fleetProject({
  test: {
    name: 'web:integration',
    include: ['test/integration/**/*.test.ts'],
    environment: 'node',
    fileParallelism: false,
    testTimeout: 180_000,
    hookTimeout: 180_000,
  },
});

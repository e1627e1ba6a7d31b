import { fleetProject } from '../vitest.shared.js';

// A real hub process (its own database on the machine's Postgres, embedded broker) driven by
// hubctl child processes: one file at a time.
export default fleetProject({
  test: {
    name: 'hubctl:integration',
    include: ['test/integration/**/*.test.ts'],
    environment: 'node',
    fileParallelism: false,
    testTimeout: 180_000,
    hookTimeout: 180_000,
  },
});

import { fleetProject } from '../vitest.shared.js';

// Whole-system scenarios: real processes, brokers and databases. One file at a time.
export default fleetProject({
  test: {
    name: 'test:integration',
    include: ['integration/**/*.test.ts', 'e2e/**/*.test.ts'],
    environment: 'node',
    fileParallelism: false,
    testTimeout: 300_000,
    hookTimeout: 120_000,
  },
});

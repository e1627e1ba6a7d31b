import { fleetProject } from '../vitest.shared.js';

// Real parts: run as root against the machine's services. Files run one at a time because
// they share machine state (cgroups, brokers, ports).
export default fleetProject({
  test: {
    name: 'device-agent:integration',
    include: ['test/integration/**/*.test.ts'],
    environment: 'node',
    fileParallelism: false,
    testTimeout: 120_000,
    hookTimeout: 120_000,
  },
});

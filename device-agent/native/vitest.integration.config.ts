import { fleetProject } from '../../vitest.shared.js';

// Real system calls as root on this machine: mounts, tmpfs, /dev/watchdog when present.
export default fleetProject({
  test: {
    name: 'native:integration',
    include: ['test/integration/**/*.test.ts'],
    environment: 'node',
    fileParallelism: false,
    testTimeout: 60_000,
    hookTimeout: 60_000,
  },
});

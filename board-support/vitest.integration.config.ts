import { fleetProject } from '../vitest.shared.js';

// Real U-Boot in qemu-system-aarch64 and real u-boot-tools; boots share CPU, so one file at a time.
export default fleetProject({
  test: {
    name: 'board-support:integration',
    include: ['test/integration/**/*.test.ts'],
    environment: 'node',
    fileParallelism: false,
    testTimeout: 180_000,
    hookTimeout: 180_000,
  },
});

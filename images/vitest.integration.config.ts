import { fleetProject } from '../vitest.shared.js';

// Real image builds (mke2fs, mtools, bmaptool), loop devices and qemu-system-aarch64 boots:
// one file at a time, they share the CPU and the download cache.
export default fleetProject({
  test: {
    name: 'images:integration',
    include: ['test/integration/**/*.test.ts'],
    environment: 'node',
    fileParallelism: false,
    testTimeout: 600_000,
    hookTimeout: 600_000,
  },
});

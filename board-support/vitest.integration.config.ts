import { defineConfig } from 'vitest/config';

// Real U-Boot in qemu-system-aarch64 and real u-boot-tools; boots share CPU, so one file at a time.
export default defineConfig({
  test: {
    name: 'board-support:integration',
    include: ['test/integration/**/*.test.ts'],
    environment: 'node',
    fileParallelism: false,
    testTimeout: 180_000,
    hookTimeout: 180_000,
  },
});

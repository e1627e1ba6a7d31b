import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: { name: 'board-support:unit', include: ['src/**/*.test.ts'], environment: 'node' },
});

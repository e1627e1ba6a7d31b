import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: { name: 'images:unit', include: ['src/**/*.test.ts'], environment: 'node' },
});

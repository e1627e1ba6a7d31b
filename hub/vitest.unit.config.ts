import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: { name: 'hub:unit', include: ['src/**/*.test.ts'], environment: 'node' },
});

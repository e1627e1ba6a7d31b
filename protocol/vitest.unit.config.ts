import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: { name: 'protocol:unit', include: ['src/**/*.test.ts'], environment: 'node' },
});

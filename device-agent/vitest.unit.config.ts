import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: { name: 'device-agent:unit', include: ['src/**/*.test.ts'], environment: 'node' },
});

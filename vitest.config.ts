import { defineConfig } from 'vitest/config';

// One vitest run from the root covers every package. Each package declares its own projects
// (`<pkg>:unit` pure and fast, `<pkg>:integration` on real parts) in its vitest.config.ts.
export default defineConfig({
  test: {
    projects: [
      '*/vitest.*.config.ts',
      'device-agent/native/vitest.*.config.ts',
      'scripts/vitest.*.config.ts',
    ],
    reporters: ['default'],
  },
});

import { defineConfig } from 'vitest/config';

// Tests of the repository's own tooling (lint boundaries, bootstrap).
export default defineConfig({
  test: { name: 'tooling:unit', include: ['scripts/**/*.test.ts'], root: '..', testTimeout: 60_000 },
});

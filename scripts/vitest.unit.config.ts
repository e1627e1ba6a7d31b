import { fleetProject } from '../vitest.shared.js';

// Tests of the repository's own tooling (lint boundaries, bootstrap).
export default fleetProject({
  test: { name: 'tooling:unit', include: ['scripts/**/*.test.ts'], root: '..', testTimeout: 60_000 },
});

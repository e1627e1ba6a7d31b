import { fleetProject } from '../vitest.shared.js';

// Tests of the repository's own tooling (lint boundaries).
export default fleetProject({
  test: { name: 'tooling:unit', include: ['*.test.ts'], testTimeout: 60_000 },
});

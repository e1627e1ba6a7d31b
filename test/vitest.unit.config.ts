import { fleetProject } from '../vitest.shared.js';

export default fleetProject({
  test: { name: 'test:unit', include: ['sim/**/*.test.ts'], environment: 'node' },
});

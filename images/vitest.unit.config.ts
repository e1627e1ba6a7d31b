import { fleetProject } from '../vitest.shared.js';

export default fleetProject({
  test: { name: 'images:unit', include: ['src/**/*.test.ts'], environment: 'node' },
});

import { fleetProject } from '../vitest.shared.js';

export default fleetProject({
  test: { name: 'hub:unit', include: ['src/**/*.test.ts'], environment: 'node' },
});

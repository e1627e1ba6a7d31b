import { fleetProject } from '../vitest.shared.js';

export default fleetProject({
  test: { name: 'hubctl:unit', include: ['src/**/*.test.ts'], environment: 'node' },
});

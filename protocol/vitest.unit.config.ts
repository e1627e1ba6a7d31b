import { fleetProject } from '../vitest.shared.js';

export default fleetProject({
  test: { name: 'protocol:unit', include: ['src/**/*.test.ts'], environment: 'node' },
});

import { fleetProject } from '../vitest.shared.js';

export default fleetProject({
  test: { name: 'device-agent:unit', include: ['src/**/*.test.ts'], environment: 'node' },
});

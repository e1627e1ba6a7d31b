import { fleetProject } from '../vitest.shared.js';

export default fleetProject({
  test: { name: 'board-support:unit', include: ['src/**/*.test.ts'], environment: 'node' },
});

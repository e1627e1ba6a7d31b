import { fleetProject } from '../vitest.shared.js';

export default fleetProject({
  test: {
    name: 'images:unit',
    include: ['src/**/*.test.ts', 'test/torture/**/*.test.ts'],
    environment: 'node',
  },
});

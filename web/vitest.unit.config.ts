import react from '@vitejs/plugin-react';
import { fleetProject } from '../vitest.shared.js';

// Component tests: jsdom 29 (31 needs Node 22), a real QueryClient, fetch replaced at the
// boundary by canned hub-shaped JSON (src/test/fake-hub.ts).
export default fleetProject({
  plugins: [react()],
  test: {
    name: 'web:unit',
    include: ['src/**/*.test.{ts,tsx}'],
    environment: 'jsdom',
    setupFiles: ['src/test/setup.ts'],
  },
});

// Hands over to the product orchestrator (test/product/main.ts, built by bootstrap), or says
// plainly what is missing when a part has not been built.
import { existsSync } from 'node:fs';

const parts = [
  ['the hub', 'hub/dist/main.js'],
  ['the dashboard', 'web/dist/index.html'],
  ['hubctl', 'hubctl/dist/bin.js'],
  ['the fleet-agent bundle', 'device-agent/dist/bundle/fleet-agent.mjs'],
  ['the orchestrator', 'test/dist/product/main.js'],
];
const missing = parts.filter(([, file]) => !existsSync(file));
if (missing.length) {
  console.error(
    `fleet: cannot run yet, not built: ${missing.map(([name, f]) => `${name} (${f})`).join(', ')}`,
  );
  console.error('fleet: run scripts/bootstrap.sh and read its output.');
  process.exit(1);
}
await import('../test/dist/product/main.js');

// Starts what exists of the product and says plainly what does not exist yet.
import { existsSync } from 'node:fs';

const parts = [
  ['hub (API, embedded Postgres and MQTT broker, dashboard)', 'hub/dist/main.js'],
  ['local devices (fleet-agent)', 'device-agent/dist/cli/bin.js'],
];
const missing = parts.filter(([, file]) => !existsSync(file));
if (missing.length === parts.length) {
  console.log('fleet: nothing runnable yet. Built so far: the protocol package (see docs/formats.md).');
  for (const [name] of missing) console.log(`  missing: ${name}`);
  process.exit(0);
}
await import('./product.mjs');

// Writes the hub's OpenAPI document to hub/openapi.json (hubctl and web generate their clients
// from it). Builds the real app; no database is touched (Prisma connects lazily) and the
// embedded broker listens on a random local port for the moment it takes.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createApp, openApiDocument } from '../app.js';
import { HubConfig } from '../config/hub-config.js';
import { MqttModule } from '../mqtt/mqtt.module.js';

const out = process.argv[2] ?? fileURLToPath(new URL('../../openapi.json', import.meta.url));
const dir = await mkdtemp(join(tmpdir(), 'fleet-openapi-'));
try {
  const config = HubConfig.parse({ databaseUrl: 'postgresql://openapi.invalid/none', dataDir: dir });
  const app = await createApp(config, {
    broker: MqttModule.forRoot({
      mode: 'embedded',
      host: '127.0.0.1',
      port: 0,
      credentialFile: join(dir, 'broker-credentials.json'),
    }),
    logger: false,
  });
  const doc = openApiDocument(app);
  await writeFile(out, JSON.stringify(doc, null, 2) + '\n');
  await app.close();
  console.log(`wrote ${out} (${Object.keys(doc.paths).length} paths)`);
} finally {
  await rm(dir, { recursive: true, force: true });
}

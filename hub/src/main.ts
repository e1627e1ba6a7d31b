// The hub's composition root: configuration, database (external or embedded), migrations,
// the Nest app with the broker and ingest modules, the first admin, background jobs, signals.
import { Logger } from '@nestjs/common';
import { resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createApp } from './app.js';
import { BrokerDeviceUrlModule } from './broker-device-url.module.js';
import { AuthService } from './auth/auth.service.js';
import { configFromEnv } from './config/hub-config.js';
import { startEmbeddedPostgres, type EmbeddedDatabase } from './database/embedded-postgres.js';
import { runMigrations } from './database/migration-runner.js';
import { IngestModule } from './ingest/ingest.module.js';
import { LogsService } from './logs/logs.service.js';
import { mqttSettingsFromEnv } from './mqtt/mqtt-settings.js';
import { MqttModule } from './mqtt/mqtt.module.js';
import { TelemetryService } from './telemetry/telemetry.service.js';

const log = new Logger('hub');
// Default data folder: `.fleet/hub` at the repository root, wherever the hub is started from.
const repoRoot = fileURLToPath(new URL('../../', import.meta.url));
const env = {
  ...process.env,
  HUB_DATA_DIR: process.env.HUB_DATA_DIR || resolve(repoRoot, '.fleet/hub'),
  HUB_WEB_DIR: process.env.HUB_WEB_DIR || resolve(repoRoot, 'web/dist'),
};

let config;
try {
  config = configFromEnv(env);
} catch (error) {
  console.error((error as Error).message);
  process.exit(2);
}

let embedded: EmbeddedDatabase | null = null;
if (!config.databaseUrl) {
  try {
    embedded = await startEmbeddedPostgres(config.dataDir, config.embeddedPostgresPort, (l) => log.log(l));
  } catch (error) {
    // Its message names the cause and the fix (data dir out of reach, the server's own reason).
    log.error((error as Error).message);
    process.exit(1);
  }
  config = { ...config, databaseUrl: embedded.url };
}
await runMigrations(config.databaseUrl!, { log: (l) => log.log(l) });

const app = await createApp(config, {
  broker: MqttModule.forRoot(mqttSettingsFromEnv(env, config)),
  extraModules: [BrokerDeviceUrlModule, IngestModule.forRoot({ imports: [] })],
});
await app.get(AuthService).bootstrapAdmin((l) => log.warn(l));
app.get(TelemetryService).startRetention();
app.get(LogsService).startRetention();
// Expired dashboard sessions are refused anyway; this only keeps the table small.
const auth = app.get(AuthService);
setInterval(
  () => void auth.purgeExpiredSessions().catch((e: Error) => log.error(`session purge failed: ${e.message}`)),
  3_600_000,
).unref();
await app.listen({ port: config.port, host: config.host });
log.log(
  `hub listening on http://${config.host}:${config.port} (public URL ${config.publicUrl}; API docs at ${config.publicUrl}/api/docs)`,
);

let stopping = false;
async function shutdown(signal: string): Promise<void> {
  if (stopping) return;
  stopping = true;
  log.log(`${signal}: shutting down`);
  // A second signal, or a shutdown that hangs, ends the process anyway.
  const force = setTimeout(() => process.exit(1), 30_000);
  force.unref();
  try {
    await app.close();
    await embedded?.stop();
  } catch (error) {
    log.error(`shutdown failed: ${(error as Error).message}`);
    process.exitCode = 1;
  }
  process.exit();
}
// The hub owns these signals once it runs. embedded-postgres installs async-exit-hook's handlers
// when it is imported (SIGINT, SIGTERM, ...): they stop every cluster the package started and
// then call process.exit(128 + signal) on the next tick, so the hub exited 143 on SIGTERM,
// before app.close() had finished (and with an external database at once, without it). Until
// the hub is up they stay: an interrupted start still stops the embedded Postgres.
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.removeAllListeners(signal);
  process.once(signal, () => void shutdown(signal));
}

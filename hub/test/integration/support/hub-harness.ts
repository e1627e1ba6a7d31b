// Test harness: a fresh Postgres database per test file on the machine's server, migrated by
// the real runner, and a real hub app (Nest + Fastify) with the real embedded broker module.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import pg from 'pg';
import { createApp } from '../../../src/app.js';
import { AuthService } from '../../../src/auth/auth.service.js';
import { BrokerDeviceUrlModule } from '../../../src/broker-device-url.module.js';
import { HubConfig, type HubConfigInput } from '../../../src/config/hub-config.js';
import { runMigrations } from '../../../src/database/migration-runner.js';
import { MqttModule } from '../../../src/mqtt/mqtt.module.js';

const ADMIN_URL = process.env.FLEET_TEST_PG_ADMIN_URL ?? 'postgresql://postgres@127.0.0.1:5432/postgres';

export interface TestDatabase {
  name: string;
  url: string;
  drop(): Promise<void>;
}

export async function createTestDatabase(prefix = 'hub_test'): Promise<TestDatabase> {
  const name = `${prefix}_${randomBytes(5).toString('hex')}`;
  const admin = new pg.Client({ connectionString: ADMIN_URL });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const url = new URL(ADMIN_URL);
  url.pathname = `/${name}`;
  return {
    name,
    url: url.toString(),
    async drop() {
      const c = new pg.Client({ connectionString: ADMIN_URL });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}

export interface TestHub {
  app: NestFastifyApplication;
  db: TestDatabase;
  config: HubConfig;
  dir: string;
  sql: pg.Pool;
  adminToken: string;
  /** Headers with the admin's API token. */
  admin: Record<string, string>;
  /** A user of `role` with an API token; returns auth headers. */
  userWithRole(role: 'admin' | 'operator' | 'viewer'): Promise<Record<string, string>>;
  close(): Promise<void>;
}

export async function startTestHub(over: Partial<HubConfigInput> = {}): Promise<TestHub> {
  const db = await createTestDatabase();
  await runMigrations(db.url);
  const dir = await mkdtemp(join(tmpdir(), 'fleet-hub-test-'));
  const config = HubConfig.parse({
    databaseUrl: db.url,
    port: 0,
    publicUrl: 'http://127.0.0.1:8080',
    dataDir: dir,
    adminEmail: 'admin@example.com',
    adminPassword: 'admin-password-1',
    logLevel: 'error',
    ...over,
  });
  const app = await createApp(config, {
    broker: MqttModule.forRoot({
      mode: 'embedded',
      host: '127.0.0.1',
      port: 0,
      credentialFile: join(dir, 'broker-credentials.json'),
    }),
    extraModules: [BrokerDeviceUrlModule],
    logger: false,
  });
  await app.get(AuthService).bootstrapAdmin(() => undefined);
  const sql = new pg.Pool({ connectionString: db.url, max: 2 });
  // pg-pool's end() resolves before its clients' sockets close; DROP DATABASE ... WITH (FORCE)
  // in close() can then terminate one mid-goodbye (57P01), emitted as a pool 'error'.
  sql.on('error', () => undefined);

  async function tokenFor(email: string, password: string): Promise<string> {
    const login = await app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      payload: { email, password },
    });
    if (login.statusCode !== 200) throw new Error(`login failed: ${login.body}`);
    const cookie = String(login.headers['set-cookie']).split(';')[0] ?? '';
    const t = await app.inject({
      method: 'POST',
      url: '/api/v1/tokens',
      headers: { cookie },
      payload: { name: 'test' },
    });
    if (t.statusCode !== 201) throw new Error(`token failed: ${t.body}`);
    return (t.json() as { token: string }).token;
  }

  const adminToken = await tokenFor('admin@example.com', 'admin-password-1');
  const admin = { authorization: `Bearer ${adminToken}` };
  let n = 0;
  return {
    app,
    db,
    config,
    dir,
    sql,
    adminToken,
    admin,
    async userWithRole(role) {
      const email = `${role}${++n}@example.com`;
      const r = await app.inject({
        method: 'POST',
        url: '/api/v1/users',
        headers: admin,
        payload: { email, password: 'long-enough-pw', role },
      });
      if (r.statusCode !== 201) throw new Error(`user create failed: ${r.body}`);
      return { authorization: `Bearer ${await tokenFor(email, 'long-enough-pw')}` };
    },
    async close() {
      await app.close();
      await sql.end();
      await db.drop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

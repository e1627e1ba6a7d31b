// Two hub processes (src/main.ts, as operators run them) on one Postgres and one Mosquitto run
// one rollout: they coordinate only through Postgres row locks. No device is dispatched twice,
// and killing one replica mid-rollout (SIGKILL: no cleanup at all) lets the other finish it.
import { spawn, type ChildProcess } from 'node:child_process';
import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateSigningKey, ReleaseManifest, signManifest } from '@fleet/protocol';
import { aContainer, aRelease } from '@fleet/protocol/testing';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runMigrations } from '../../src/database/migration-runner.js';
import { freePort, startMosquitto, type MosquittoInstance } from './helpers/mosquitto.js';
import { createTestDatabase, type TestDatabase } from './support/hub-harness.js';

const HUB = fileURLToPath(new URL('../../', import.meta.url));

// test/sim lives outside this package's TypeScript root: loaded at run time, typed by what is used.
interface SimulatedDevice {
  readonly deviceId: string;
  connect(): Promise<void>;
  stop(): Promise<void>;
}
const simDir = (f: string) => fileURLToPath(new URL(`../../../test/sim/${f}`, import.meta.url));
const { SimulatedDevice } = (await import(/* @vite-ignore */ simDir('simulated-device.ts'))) as {
  SimulatedDevice: new (opts: Record<string, unknown>) => SimulatedDevice;
};
const { seededRng, deviceSeed } = (await import(/* @vite-ignore */ simDir('rng.ts'))) as {
  seededRng(seed: number): () => number;
  deviceSeed(fleetSeed: number, index: number): number;
};

interface Replica {
  name: string;
  base: string;
  proc: ChildProcess;
  output: string;
}

let mosquitto: MosquittoInstance;
let db: TestDatabase;
let dir: string;
let sql: pg.Pool;
const replicas: Replica[] = [];
const devices: SimulatedDevice[] = [];
/** Update ids each device received on its target topic, in order. */
const received = new Map<string, string[]>();
let env: NodeJS.ProcessEnv;

async function until<T>(
  what: string,
  probe: () => Promise<T | undefined | null | false>,
  timeoutMs = 60_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== null && value !== false) return value;
    if (Date.now() > deadline)
      throw new Error(
        `timed out waiting for ${what}\n${replicas.map((r) => `--- ${r.name}\n${r.output.slice(-3000)}`).join('\n')}`,
      );
    await new Promise((r) => setTimeout(r, 200));
  }
}

async function startReplica(name: string): Promise<Replica> {
  const port = await freePort();
  const base = `http://127.0.0.1:${port}`;
  const proc = spawn(process.execPath, ['--conditions=fleet-source', '--import', 'tsx', 'src/main.ts'], {
    cwd: HUB,
    env: {
      ...env,
      HUB_PORT: String(port),
      HUB_PUBLIC_URL: base,
      HUB_DATA_DIR: join(dir, name),
      MQTT_CLIENT_ID: `hub-${name}`,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const r: Replica = { name, base, proc, output: '' };
  proc.stdout!.on('data', (b: Buffer) => (r.output += b.toString()));
  proc.stderr!.on('data', (b: Buffer) => (r.output += b.toString()));
  replicas.push(r);
  await until(`${name} ready`, async () => {
    if (proc.exitCode !== null) throw new Error(`${name} exited with ${proc.exitCode}:\n${r.output}`);
    return fetch(`${base}/readyz`).then(
      (x) => x.ok,
      () => false,
    );
  });
  return r;
}

async function call<T>(
  base: string,
  token: string,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; body: T }> {
  const res = await fetch(`${base}${path}`, {
    method,
    headers: {
      authorization: `Bearer ${token}`,
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
    },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, body: (text ? JSON.parse(text) : null) as T };
}

beforeAll(async () => {
  mosquitto = await startMosquitto();
  db = await createTestDatabase('hub_replicas');
  await runMigrations(db.url);
  dir = await mkdtemp(join(tmpdir(), 'fleet-replicas-'));
  sql = new pg.Pool({ connectionString: db.url, max: 2 });
  const { DATABASE_URL: _d, MQTT_URL: _m, ...rest } = process.env;
  env = {
    ...rest,
    DATABASE_URL: db.url,
    MQTT_URL: mosquitto.url,
    MQTT_ADMIN_USERNAME: mosquitto.admin.username,
    MQTT_ADMIN_PASSWORD: mosquitto.admin.password,
    MQTT_HUB_PASSWORD: randomBytes(12).toString('hex'),
    HUB_HOST: '127.0.0.1',
    HUB_ADMIN_EMAIL: 'root@example.com',
    HUB_ADMIN_PASSWORD: 'a-good-password',
    HUB_LOG_LEVEL: 'warn',
  };
});

afterAll(async () => {
  for (const d of devices) await d.stop().catch(() => {});
  for (const r of replicas) if (r.proc.exitCode === null) r.proc.kill('SIGKILL');
  await sql?.end();
  await db?.drop();
  await mosquitto?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('two hub replicas', () => {
  it('share one rollout through Postgres: nobody is dispatched twice, and killing one lets the other finish', async () => {
    // One after the other: the first creates the broker role both use.
    const a = await startReplica('a');
    const b = await startReplica('b');
    const login = await fetch(`${a.base}/api/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email: 'root@example.com', password: 'a-good-password' }),
    });
    const cookie = login.headers.get('set-cookie')!.split(';')[0]!;
    const token = (
      (await (
        await fetch(`${a.base}/api/v1/tokens`, {
          method: 'POST',
          headers: { cookie, 'content-type': 'application/json' },
          body: JSON.stringify({ name: 't' }),
        })
      ).json()) as { token: string }
    ).token;

    const key = generateSigningKey('replicas');
    expect(
      (
        await call(a.base, token, 'POST', '/api/v1/keys', {
          name: 'replicas',
          publicKey: key.trustRoot.publicKey,
        })
      ).status,
    ).toBe(201);
    const data = randomBytes(20_000);
    const hex = createHash('sha256').update(data).digest('hex');
    const put = await fetch(`${a.base}/api/v1/objects/sha256/${hex}`, {
      method: 'PUT',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/octet-stream' },
      body: data,
    });
    expect(put.status).toBe(201);
    const manifest = signManifest(
      ReleaseManifest.parse(
        aRelease({
          version: '2.0.0',
          release: '2.0.0',
          sequence: 2,
          containers: { web: aContainer({ rootfs: { digest: `sha256:${hex}`, size: data.length } }) },
        }),
      ),
      key,
    );
    expect((await call(a.base, token, 'POST', '/api/v1/releases', manifest)).status).toBe(201);
    const fleet = await call<{ id: string }>(a.base, token, 'POST', '/api/v1/fleets', { name: 'pair' });
    const claim = await call<{ token: string }>(
      a.base,
      token,
      'POST',
      `/api/v1/fleets/${fleet.body.id}/claim-tokens`,
      { name: 'lab' },
    );

    // Devices provision on either replica; downloads take ~1 s so the rollout is mid-way when A dies.
    const behaviour = {
      failureRate: 0,
      timeoutRate: 0,
      downloadBytesPerSecond: 20_000,
      installMs: 300,
      testMs: 300,
      downloadSteps: 2,
    };
    for (let i = 0; i < 12; i++) {
      const der = generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'der' });
      const prov = await call<{
        deviceId: string;
        mqtt: { url: string; username: string; password: string; clientId: string };
      }>(i % 2 ? b.base : a.base, token, 'POST', '/api/v1/provision', {
        claimToken: claim.body.token,
        hardwareId: `pair-${i}`,
        publicKey: der.subarray(der.length - 32).toString('base64'),
        board: 'qemu-aarch64',
        agentVersion: '0.1.0',
      });
      expect(prov.status).toBe(200);
      const d = new SimulatedDevice({
        credentials: {
          deviceId: prov.body.deviceId,
          mqttUrl: prov.body.mqtt.url,
          username: prov.body.mqtt.username,
          password: prov.body.mqtt.password,
          clientId: prov.body.mqtt.clientId,
        },
        board: 'qemu-aarch64',
        agentVersion: '0.1.0',
        protocolVersion: 5,
        behaviour,
        rng: seededRng(deviceSeed(3, i)),
        telemetryIntervalMs: 0,
        storageBytes: 8 * 1024 ** 3,
        onEvent: (e: { type: string; deviceId: string; updateId?: string }) => {
          if (e.type === 'target' && e.updateId)
            received.set(e.deviceId, [...(received.get(e.deviceId) ?? []), e.updateId]);
        },
      });
      await d.connect();
      devices.push(d);
    }
    await until(
      'reports',
      async () =>
        Number(
          (await sql.query(`SELECT count(*) AS n FROM devices WHERE inventory ? 'objects'`)).rows[0].n,
        ) === 12,
    );

    const created = await call<{ id: string }>(a.base, token, 'POST', '/api/v1/rollouts', {
      release: '2.0.0',
      fleet: 'pair',
      phases: [
        { percent: 25, bakeSeconds: 1 },
        { percent: 100, bakeSeconds: 0 },
      ],
      maxParallel: 3,
      deviceBakeSeconds: 1,
      deviceTimeoutSeconds: 60,
      maxFailurePercent: 0,
      minSuccessPercent: 100,
    });
    expect(created.status).toBe(201);
    const id = created.body.id;
    // Both replicas step the rollout while both live; A dies once the second phase is under way.
    await until(
      'second phase dispatching',
      async () =>
        Number(
          (
            await sql.query(
              `SELECT count(*) AS n FROM rollout_devices WHERE rollout_id = $1 AND phase = 1 AND dispatch_count > 0`,
              [id],
            )
          ).rows[0].n,
        ) >= 2,
    );
    const finishedAtKill = Number(
      (
        await sql.query(
          `SELECT count(*) AS n FROM rollout_devices WHERE rollout_id = $1 AND state = 'succeeded'`,
          [id],
        )
      ).rows[0].n,
    );
    a.proc.kill('SIGKILL');
    await new Promise<void>((r) => (a.proc.exitCode !== null ? r() : a.proc.once('exit', () => r())));
    expect(finishedAtKill).toBeLessThan(12);

    const done = await until('completed by B', async () => {
      const r = await call<{ state: string; counts: Record<string, number> }>(
        b.base,
        token,
        'GET',
        `/api/v1/rollouts/${id}`,
      );
      return r.body.state === 'completed' ? r.body : null;
    });
    expect(done.counts.succeeded).toBe(12);
    const rows = (
      await sql.query(
        `SELECT device_id::text AS id, update_id, dispatch_count FROM rollout_devices WHERE rollout_id = $1`,
        [id],
      )
    ).rows as Array<{ id: string; update_id: string; dispatch_count: number }>;
    expect(rows).toHaveLength(12);
    for (const row of rows) {
      expect(row.dispatch_count).toBe(1);
      // Each device was only ever told about this one update (a retained redelivery of the same
      // target is the same update id).
      expect(new Set(received.get(row.id))).toEqual(new Set([row.update_id]));
    }
    expect(b.proc.exitCode).toBeNull();
    // Two hub processes start in this test: 114 s were measured on the loaded shared machine.
  }, 300_000);
});

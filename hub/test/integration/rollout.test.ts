// The rollout engine on real parts: Postgres, Mosquitto (dynamic security, shared
// subscriptions), the hub with its ingest, and protocol-faithful simulated devices provisioned
// through the hub's real /api/v1/provision with a claim token (test/sim).
import { createHash, generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { NestFastifyApplication } from '@nestjs/platform-fastify';
import {
  allDevicesFilter,
  checkSequence,
  decodeMessage,
  deviceTopics,
  encodeMessage,
  generateSigningKey,
  manifestDigest,
  parseTopic,
  ReleaseManifest,
  signManifest,
  type MessageBodyInput,
  type RevisionRef,
  type Target,
  type UplinkKind,
} from '@fleet/protocol';
import { aContainer, aRelease } from '@fleet/protocol/testing';
import mqtt from './helpers/mqtt-client.js';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createApp } from '../../src/app.js';
import { EventBus } from '../../src/events/event-bus.js';
import { AuthService } from '../../src/auth/auth.service.js';
import { BrokerDeviceUrlModule } from '../../src/broker-device-url.module.js';
import { HubConfig } from '../../src/config/hub-config.js';
import { runMigrations } from '../../src/database/migration-runner.js';
import { IngestModule } from '../../src/ingest/ingest.module.js';
import { mqttSettingsFromEnv } from '../../src/mqtt/mqtt-settings.js';
import { MqttModule } from '../../src/mqtt/mqtt.module.js';
import { freePort, startMosquitto, type MosquittoInstance } from './helpers/mosquitto.js';
import { createTestDatabase, type TestDatabase } from './support/hub-harness.js';

// The simulator (test/sim) lives outside this package's TypeScript root: it is loaded at run
// time and typed here by the parts this file uses (see docs/rollouts.md, "Tests").
interface UpdateBehaviour {
  failureRate: number;
  timeoutRate: number;
  downloadBytesPerSecond: number;
  installMs: number;
  testMs: number;
  downloadSteps: number;
}
interface DeviceCredentials {
  deviceId: string;
  mqttUrl: string;
  username?: string;
  password?: string;
  clientId?: string;
}
interface SimulatedDevice {
  readonly deviceId: string;
  connect(): Promise<void>;
  stop(): Promise<void>;
  readonly stats: { updates: number; succeeded: number; rolledBack: number; refused: number; silent: number };
}
const simDir = (f: string) => fileURLToPath(new URL(`../../../test/sim/${f}`, import.meta.url));
const { SimulatedDevice } = (await import(/* @vite-ignore */ simDir('simulated-device.ts'))) as {
  SimulatedDevice: new (opts: Record<string, unknown>) => SimulatedDevice;
};
const { seededRng, deviceSeed } = (await import(/* @vite-ignore */ simDir('rng.ts'))) as {
  seededRng(seed: number): () => number;
  deviceSeed(fleetSeed: number, index: number): number;
};
const { DEFAULT_BEHAVIOUR } = (await import(/* @vite-ignore */ simDir('update-plan.ts'))) as {
  DEFAULT_BEHAVIOUR: UpdateBehaviour;
};

/**
 * Provisions a device through the hub's real endpoint with a claim token, as an agent does.
 * (test/sim's own `provision` passes a public KeyObject to createPublicKey, which Node 20
 * refuses; the request here is the same.)
 */
async function provision(hubUrl: string, claimToken: string, hardwareId: string): Promise<DeviceCredentials> {
  const der = generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'der' });
  const res = await fetch(new URL('/api/v1/provision', hubUrl), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      claimToken,
      hardwareId,
      publicKey: der.subarray(der.length - 32).toString('base64'),
      board: 'qemu-aarch64',
      agentVersion: '0.1.0',
    }),
  });
  const body = (await res.json()) as {
    deviceId: string;
    mqtt: { url: string; username: string; password: string; clientId: string };
  };
  if (!res.ok) throw new Error(`provisioning ${hardwareId} failed: ${res.status} ${JSON.stringify(body)}`);
  return {
    deviceId: body.deviceId,
    mqttUrl: body.mqtt.url,
    username: body.mqtt.username,
    password: body.mqtt.password,
    clientId: body.mqtt.clientId,
  };
}

let mosquitto: MosquittoInstance;
let db: TestDatabase;
let dir: string;
let app: NestFastifyApplication;
let sql: pg.Pool;
let admin: Record<string, string>;
let base: string;
let hubMqtt: { username: string; password: string };
let observer: mqtt.MqttClient;
const key = generateSigningKey('rollout test key');
/** Bytes per update id from devices' progress (observed on the wire), targets per device (as devices received them). */
const wire = { progressBytes: new Map<string, number>(), targets: new Map<string, string[]>() };
const sims: SimulatedDevice[] = [];
const minis: MiniAgent[] = [];

async function until<T>(
  what: string,
  probe: () => Promise<T | undefined | null | false>,
  timeoutMs = 30_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined && value !== null && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function api<T = unknown>(
  method: 'GET' | 'POST' | 'PUT' | 'DELETE',
  url: string,
  payload?: unknown,
): Promise<{ status: number; body: T }> {
  const r = await app.inject({
    method,
    url,
    headers: admin,
    ...(payload !== undefined ? { payload: payload as object } : {}),
  });
  return { status: r.statusCode, body: (r.body ? r.json() : null) as T };
}

interface RolloutView {
  id: string;
  state: string;
  stateReason: string | null;
  currentPhase: number;
  counts: Record<string, number>;
  phaseCounts: Array<{ phase: number; total: number }>;
}

async function rollout(id: string): Promise<RolloutView> {
  return (await api<RolloutView>('GET', `/api/v1/rollouts/${id}`)).body;
}

async function uploadObject(bytes: number): Promise<{ digest: string; size: number }> {
  const data = randomBytes(bytes);
  const hex = createHash('sha256').update(data).digest('hex');
  const r = await app.inject({
    method: 'PUT',
    url: `/api/v1/objects/sha256/${hex}`,
    headers: { ...admin, 'content-type': 'application/octet-stream' },
    payload: data,
  });
  expect([200, 201]).toContain(r.statusCode);
  return { digest: `sha256:${hex}`, size: bytes };
}

let sequence = 0;
/** A signed release registered with the hub; containers name their rootfs objects. */
async function release(
  containers: Record<string, { digest: string; size: number }>,
): Promise<{ id: string; version: string; digest: string }> {
  sequence++;
  const manifest = signManifest(
    ReleaseManifest.parse(
      aRelease({
        version: `1.${sequence}.0`,
        release: `1.${sequence}.0`,
        sequence,
        containers: Object.fromEntries(
          Object.entries(containers).map(([name, rootfs]) => [name, aContainer({ rootfs })]),
        ),
      }),
    ),
    key,
  );
  const r = await api<{ id: string; version: string }>('POST', '/api/v1/releases', manifest);
  expect(r.status).toBe(201);
  return { ...r.body, digest: manifestDigest(manifest) };
}

async function fleetWithToken(name: string): Promise<{ id: string; token: string }> {
  const f = await api<{ id: string }>('POST', '/api/v1/fleets', { name });
  const t = await api<{ token: string }>('POST', `/api/v1/fleets/${f.body.id}/claim-tokens`, { name: 'lab' });
  return { id: f.body.id, token: t.body.token };
}

async function simulatedFleet(
  name: string,
  count: number,
  behaviour: UpdateBehaviour,
): Promise<{ fleetId: string; devices: SimulatedDevice[] }> {
  const f = await fleetWithToken(name);
  const devices: SimulatedDevice[] = [];
  for (let i = 0; i < count; i++) {
    const device = new SimulatedDevice({
      credentials: await provision(base, f.token, `${name}-${i}`),
      board: 'qemu-aarch64',
      agentVersion: '0.1.0',
      protocolVersion: 5,
      // Shared by reference: a test changes the fleet's behaviour between rollouts.
      behaviour,
      rng: seededRng(deviceSeed(7, i)),
      telemetryIntervalMs: 0,
      storageBytes: 8 * 1024 ** 3,
      onEvent: (e: { type: string; deviceId: string; updateId?: string }) => {
        if (e.type === 'target' && e.updateId)
          wire.targets.set(e.deviceId, [...(wire.targets.get(e.deviceId) ?? []), e.updateId]);
      },
    });
    await device.connect();
    devices.push(device);
    sims.push(device);
  }
  // Every device has reported once (inventory known) before the tests deploy.
  await until(
    'reports',
    async () =>
      Number(
        (
          await sql.query(`SELECT count(*) AS n FROM devices WHERE fleet_id = $1 AND inventory ? 'objects'`, [
            f.id,
          ])
        ).rows[0].n,
      ) === count,
  );
  return { fleetId: f.id, devices };
}

async function waitState(id: string, state: string, timeoutMs = 60_000): Promise<RolloutView> {
  return until(
    `rollout ${id} ${state}`,
    async () => {
      const r = await rollout(id);
      return r.state === state ? r : null;
    },
    timeoutMs,
  );
}

async function deviceRows(
  rolloutId: string,
): Promise<
  Array<{ device_id: string; state: string; dispatch_count: number; phase: number; reason: string | null }>
> {
  return (
    await sql.query(
      'SELECT device_id::text, state, dispatch_count, phase, reason FROM rollout_devices WHERE rollout_id = $1 ORDER BY device_id',
      [rolloutId],
    )
  ).rows;
}

const fast = (): UpdateBehaviour => ({
  ...DEFAULT_BEHAVIOUR,
  downloadBytesPerSecond: 64 * 1024 * 1024,
  installMs: 50,
  testMs: 100,
  downloadSteps: 2,
});

beforeAll(async () => {
  mosquitto = await startMosquitto();
  db = await createTestDatabase('hub_rollout');
  await runMigrations(db.url);
  dir = await mkdtemp(join(tmpdir(), 'fleet-rollout-'));
  const port = await freePort();
  base = `http://127.0.0.1:${port}`;
  const config = HubConfig.parse({
    databaseUrl: db.url,
    mqttUrl: mosquitto.url,
    port,
    publicUrl: base,
    dataDir: dir,
    adminEmail: 'admin@example.com',
    adminPassword: 'admin-password-1',
    logLevel: 'error',
  });
  hubMqtt = { username: 'fleet-hub', password: randomBytes(12).toString('hex') };
  const env = {
    MQTT_ADMIN_USERNAME: mosquitto.admin.username,
    MQTT_ADMIN_PASSWORD: mosquitto.admin.password,
    MQTT_HUB_PASSWORD: hubMqtt.password,
  };
  app = await createApp(config, {
    broker: MqttModule.forRoot(mqttSettingsFromEnv(env, config)),
    extraModules: [BrokerDeviceUrlModule, IngestModule.forRoot()],
    logger: false,
  });
  await app.get(AuthService).bootstrapAdmin(() => undefined);
  await app.listen({ port, host: '127.0.0.1' });
  sql = new pg.Pool({ connectionString: db.url, max: 2 });
  const login = await app.inject({
    method: 'POST',
    url: '/api/v1/auth/login',
    payload: { email: 'admin@example.com', password: 'admin-password-1' },
  });
  const cookie = String(login.headers['set-cookie']).split(';')[0] ?? '';
  const token = (
    await app.inject({
      method: 'POST',
      url: '/api/v1/tokens',
      headers: { cookie },
      payload: { name: 'rollout-test' },
    })
  ).json() as { token: string };
  admin = { authorization: `Bearer ${token.token}` };
  expect(
    (await api('POST', '/api/v1/keys', { name: 'rollout test key', publicKey: key.trustRoot.publicKey }))
      .status,
  ).toBe(201);

  // The wire as the hub sees it: every progress message (the bytes each device downloads).
  observer = await mqtt.connectAsync(mosquitto.url, {
    ...hubMqtt,
    clientId: `observer-${randomBytes(4).toString('hex')}`,
    protocolVersion: 5,
  });
  observer.on('message', (topic, payload) => {
    const t = parseTopic(topic);
    if (!t.ok) return;
    if (t.value.kind === 'progress') {
      const m = decodeMessage('progress', payload);
      if (m.ok && m.value.body.bytesTotal !== undefined)
        wire.progressBytes.set(m.value.body.updateId, m.value.body.bytesTotal);
    }
  });
  await observer.subscribeAsync(allDevicesFilter('progress'), { qos: 1 });
});

afterAll(async () => {
  for (const m of minis) await m.stop().catch(() => {});
  for (const s of sims) await s.stop().catch(() => {});
  await observer?.endAsync().catch(() => {});
  await app?.close();
  await sql?.end();
  await db?.drop();
  await mosquitto?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('rollouts with simulated devices', () => {
  const behaviour = fast();
  let fleetId: string;
  let devices: SimulatedDevice[];
  let web1: { digest: string; size: number };
  let r1: { id: string; version: string; digest: string };
  let r2: { id: string; version: string; digest: string };

  it('a good release goes through every phase (1, 50%, 100%) to completed, each device dispatched once', async () => {
    ({ fleetId, devices } = await simulatedFleet('sim-a', 8, behaviour));
    web1 = await uploadObject(40_000);
    r1 = await release({ web: web1 });
    const created = await api<RolloutView>('POST', '/api/v1/rollouts', {
      release: r1.version,
      fleet: 'sim-a',
      phases: [
        { count: 1, bakeSeconds: 1 },
        { percent: 50, bakeSeconds: 1 },
        { percent: 100, bakeSeconds: 0 },
      ],
      maxFailurePercent: 0,
      minSuccessPercent: 100,
      deviceBakeSeconds: 1,
      deviceTimeoutSeconds: 60,
    });
    expect(created.status).toBe(201);
    expect(created.body.phaseCounts.map((p) => p.total)).toEqual([1, 3, 4]);
    // A second rollout for the same fleet is refused while this one runs.
    const second = await api<{ message: string }>('POST', '/api/v1/rollouts', {
      release: r1.version,
      fleet: 'sim-a',
    });
    expect(second.status).toBe(409);
    expect(second.body.message).toMatch(/already has a running rollout.*abort it or let it finish/);

    const done = await waitState(created.body.id, 'completed');
    expect(done.counts.succeeded).toBe(8);
    const rows = await deviceRows(created.body.id);
    expect(rows.every((r) => r.state === 'succeeded' && r.dispatch_count === 1)).toBe(true);
    const advances = await sql.query(
      `SELECT details FROM audit_entries WHERE action = 'rollout.phase.advance' AND target_id = $1 ORDER BY id`,
      [created.body.id],
    );
    expect(advances.rows.map((r) => r.details)).toEqual([
      { from: 0, to: 1 },
      { from: 1, to: 2 },
    ]);
    expect(
      (
        await sql.query(
          `SELECT count(*) AS n FROM devices WHERE fleet_id = $1 AND current_revision_digest = $2`,
          [fleetId, r1.digest],
        )
      ).rows[0].n,
    ).toBe('8');
    expect(devices.reduce((n, d) => n + d.stats.succeeded, 0)).toBe(8);
  });

  it('the dry run predicts exactly the bytes the devices then download', async () => {
    // r2 keeps web's object and adds a new one: devices fetch only the new one.
    const extra = await uploadObject(25_000);
    r2 = await release({ web: web1, sidecar: extra });
    const spec = {
      release: r2.version,
      fleet: 'sim-a',
      phases: [{ percent: 100, bakeSeconds: 0 }],
      deviceBakeSeconds: 1,
    };
    const dry = await api<{
      summary: { devices: number; eligible: number; downloadBytes: number; phaseSizes: number[] };
      devices: Array<{ downloadBytes: number; spaceOk: boolean; boardOk: boolean; agentOk: boolean }>;
    }>('POST', '/api/v1/rollouts/dry-run', spec);
    expect(dry.status).toBe(200);
    expect(dry.body.summary).toMatchObject({
      devices: 8,
      eligible: 8,
      downloadBytes: 8 * 25_000,
      phaseSizes: [8],
    });
    expect(
      dry.body.devices.every((d) => d.downloadBytes === 25_000 && d.spaceOk && d.boardOk && d.agentOk),
    ).toBe(true);
    // Nothing was created by the dry run.
    expect(
      (await api<{ items: unknown[] }>('GET', '/api/v1/rollouts?fleet=sim-a&state=running')).body.items,
    ).toEqual([]);

    const created = await api<RolloutView>('POST', '/api/v1/rollouts', spec);
    expect(created.status).toBe(201);
    await waitState(created.body.id, 'completed');
    const updateIds = (
      await sql.query('SELECT update_id FROM rollout_devices WHERE rollout_id = $1', [created.body.id])
    ).rows.map((r) => r.update_id as string);
    await until('all progress seen', async () => updateIds.every((u) => wire.progressBytes.has(u)));
    const downloaded = updateIds.reduce((n, u) => n + (wire.progressBytes.get(u) ?? 0), 0);
    expect(downloaded).toBe(dry.body.summary.downloadBytes);
  });

  it('a failing release auto-pauses at the threshold; the failed device is back on its previous release', async () => {
    behaviour.failureRate = 1;
    const r3 = await release({ web: await uploadObject(10_000) });
    const created = await api<RolloutView>('POST', '/api/v1/rollouts', {
      release: r3.version,
      fleet: 'sim-a',
      phases: [
        { count: 1, bakeSeconds: 0 },
        { percent: 100, bakeSeconds: 0 },
      ],
      maxFailurePercent: 5,
      deviceBakeSeconds: 1,
    });
    expect(created.status).toBe(201);
    const paused = await waitState(created.body.id, 'paused');
    // The canary's own health gate failed and it went back: counted rolled-back, and the pause
    // reason says so in the same words (it used to say "1 of 1 devices failed").
    expect(paused.stateReason).toMatch(/^failure-threshold: 1 of 1 devices rolled-back \(100%\)/);
    expect(paused.counts['rolled-back']).toBe(1);
    expect(paused.counts.failed ?? 0).toBe(0);
    const rows = await deviceRows(created.body.id);
    const tried = rows.filter((r) => r.dispatch_count > 0);
    expect(tried).toHaveLength(1);
    expect(tried[0]!.state).toBe('rolled-back');
    expect(tried[0]!.reason).toContain('health-check-failed');
    expect(rows.filter((r) => r.state === 'pending')).toHaveLength(7);
    const dev = (
      await sql.query('SELECT current_revision_digest, failed_revisions FROM devices WHERE id = $1', [
        tried[0]!.device_id,
      ])
    ).rows[0];
    expect(dev.current_revision_digest).toBe(r2.digest);
    expect(dev.failed_revisions).toContain(r3.digest);
    const audit = await sql.query(
      `SELECT actor FROM audit_entries WHERE action = 'rollout.auto-pause' AND target_id = $1`,
      [created.body.id],
    );
    expect(audit.rows).toEqual([{ actor: 'system' }]);

    // Resuming acknowledges the failure seen; paused rollouts can be aborted; a second abort is refused.
    const aborted = await api<RolloutView>('POST', `/api/v1/rollouts/${created.body.id}/abort`, {
      reason: 'bad build',
    });
    expect(aborted.status).toBe(200);
    expect(aborted.body.state).toBe('aborted');
    const again = await api<{ message: string }>('POST', `/api/v1/rollouts/${created.body.id}/abort`, {});
    expect(again.status).toBe(409);
    expect(again.body.message).toBe('cannot abort a rollout that is aborted');

    // The hub never sends a revision that failed on a device: a new rollout of r3 refuses it there.
    behaviour.failureRate = 0;
    const retry = await api<RolloutView>('POST', '/api/v1/rollouts', {
      release: r3.version,
      fleet: 'sim-a',
      deviceIds: [tried[0]!.device_id],
      maxFailurePercent: 100,
      minSuccessPercent: 0,
    });
    expect(retry.status).toBe(201);
    await waitState(retry.body.id, 'completed');
    const [row] = await deviceRows(retry.body.id);
    expect(row).toMatchObject({ state: 'failed', dispatch_count: 0 });
    expect(row!.reason).toMatch(/^revision-failed-before/);
  });

  it('abort stops new installs: devices still pending never get the target, those in flight finish', async () => {
    // Slow downloads: the parallel download cap (2) holds the other six back.
    behaviour.downloadBytesPerSecond = 4_000;
    const r4 = await release({ web: await uploadObject(12_000) });
    const created = await api<RolloutView>('POST', '/api/v1/rollouts', {
      release: r4.version,
      fleet: 'sim-a',
      maxParallel: 2,
      deviceBakeSeconds: 1,
      maxFailurePercent: 100,
      minSuccessPercent: 0,
    });
    expect(created.status).toBe(201);
    await until(
      'two dispatched',
      async () => (await deviceRows(created.body.id)).filter((r) => r.dispatch_count > 0).length === 2,
    );
    const aborted = await api<RolloutView>('POST', `/api/v1/rollouts/${created.body.id}/abort`);
    expect(aborted.body.state).toBe('aborted');
    const atAbort = await deviceRows(created.body.id);
    // Never sent: pending and not dispatched. Withdrawn: sent, but no progress seen yet, so the
    // abort gave them their previous target back (they are pending again).
    const neverSent = atAbort
      .filter((r) => r.state === 'pending' && r.dispatch_count === 0)
      .map((r) => r.device_id);
    const withdrawn = atAbort
      .filter((r) => r.state === 'pending' && r.dispatch_count > 0)
      .map((r) => r.device_id);
    expect(neverSent.length).toBe(6);
    // Long enough for several engine steps and for the in-flight devices to finish.
    await new Promise((r) => setTimeout(r, 4_000));
    const rows = await deviceRows(created.body.id);
    for (const id of neverSent)
      expect(rows.find((r) => r.device_id === id)).toMatchObject({ state: 'pending', dispatch_count: 0 });
    const r4UpdateIds = new Set(
      (
        await sql.query('SELECT update_id FROM rollout_devices WHERE rollout_id = $1', [created.body.id])
      ).rows.map((r) => r.update_id),
    );
    expect(neverSent.flatMap((id) => wire.targets.get(id) ?? []).filter((u) => r4UpdateIds.has(u))).toEqual(
      [],
    );
    const onR4 = (
      await sql.query('SELECT id::text FROM devices WHERE current_revision_digest = $1', [r4.digest])
    ).rows.map((r) => r.id as string);
    for (const id of [...neverSent, ...withdrawn]) expect(onR4).not.toContain(id);
    // Devices that had started finish their update.
    const started = rows.filter((r) => r.dispatch_count > 0 && !withdrawn.includes(r.device_id));
    expect(started.every((r) => r.state === 'succeeded')).toBe(true);
    expect(onR4.sort()).toEqual(started.map((r) => r.device_id).sort());
    const audit = await sql.query(
      `SELECT details FROM audit_entries WHERE action = 'rollout.abort' AND target_id = $1`,
      [created.body.id],
    );
    expect(audit.rows).toHaveLength(1);
    behaviour.downloadBytesPerSecond = fast().downloadBytesPerSecond;
  });

  it('refuses bad rollout specs naming the field, and creates nothing', async () => {
    const before = (await sql.query('SELECT count(*) AS n FROM rollouts')).rows[0].n;
    const badPhase = await api<{ issues: Array<{ path: string; message: string }> }>(
      'POST',
      '/api/v1/rollouts',
      { release: r1.version, fleet: 'sim-a', phases: [{ count: 0, bakeSeconds: 0 }] },
    );
    expect(badPhase.status).toBe(400);
    expect(badPhase.body.issues.map((i) => i.path)).toContain('$.phases[0].count');
    const badPct = await api<{ issues: Array<{ path: string }> }>('POST', '/api/v1/rollouts', {
      release: r1.version,
      fleet: 'sim-a',
      maxFailurePercent: 150,
    });
    expect(badPct.status).toBe(400);
    expect(badPct.body.issues[0]!.path).toBe('$.maxFailurePercent');
    const noFleet = await api<{ message: string }>('POST', '/api/v1/rollouts', {
      release: r1.version,
      fleet: 'nope',
    });
    expect(noFleet).toMatchObject({ status: 404, body: { message: 'no fleet nope' } });
    const noRelease = await api<{ message: string }>('POST', '/api/v1/rollouts', {
      release: '9.9.9',
      fleet: 'sim-a',
    });
    expect(noRelease).toMatchObject({
      status: 404,
      body: { message: 'no release 9.9.9; list them with `hubctl releases ls`' },
    });
    const yanked = await release({ web: await uploadObject(1_000) });
    await api('POST', `/api/v1/releases/${yanked.version}/yank`, { reason: 'broken' });
    const refused = await api<{ message: string }>('POST', '/api/v1/rollouts', {
      release: yanked.version,
      fleet: 'sim-a',
    });
    expect(refused.status).toBe(422);
    expect(refused.body.message).toContain('was yanked (broken)');
    const viewer = await api<{ message: string }>('POST', '/api/v1/rollouts/nope/pause');
    expect(viewer.status).toBe(404);
    expect((await sql.query('SELECT count(*) AS n FROM rollouts')).rows[0].n).toBe(before);
  });

  it('a device that goes silent mid-update times out after the deadline and counts as a failure', async () => {
    const silent: UpdateBehaviour = { ...fast(), timeoutRate: 1 };
    const { devices: quiet } = await simulatedFleet('sim-t', 2, silent);
    const rel = await release({ web: await uploadObject(8_000) });
    const created = await api<RolloutView>('POST', '/api/v1/rollouts', {
      release: rel.version,
      fleet: 'sim-t',
      deviceTimeoutSeconds: 5,
      maxFailurePercent: 50,
      deviceBakeSeconds: 1,
    });
    expect(created.status).toBe(201);
    const paused = await waitState(created.body.id, 'paused', 30_000);
    expect(paused.counts['timed-out']).toBe(2);
    const rows = await deviceRows(created.body.id);
    expect(rows.every((r) => r.reason === 'no progress for 5 s')).toBe(true);
    expect(quiet.reduce((n, d) => n + d.stats.silent, 0)).toBe(2);
    expect((await api('POST', `/api/v1/rollouts/${created.body.id}/abort`)).status).toBe(200);
  });

  it('a progress event stored out of id order (committed after a later one) is still synced (decision 0092)', async () => {
    // The engine's quick steps only look at events above the id it saw at the previous step;
    // an event whose transaction commits after a later id's is left to the next full step.
    const silent: UpdateBehaviour = { ...fast(), timeoutRate: 1 };
    await simulatedFleet('sim-q', 2, silent);
    const rel = await release({ web: await uploadObject(8_000) });
    const created = await api<RolloutView>('POST', '/api/v1/rollouts', {
      release: rel.version,
      fleet: 'sim-q',
      deviceTimeoutSeconds: 600,
      maxFailurePercent: 100,
    });
    expect(created.status).toBe(201);
    const rows = await until('both devices dispatched', async () => {
      const r = (
        await sql.query<{ device_id: string; update_id: string; state: string }>(
          `SELECT device_id::text, update_id, state FROM rollout_devices WHERE rollout_id = $1 ORDER BY device_id`,
          [created.body.id],
        )
      ).rows;
      return r.length === 2 && r.every((x) => x.state !== 'pending') ? r : null;
    });
    const [late, early] = rows as [(typeof rows)[0], (typeof rows)[0]];
    const insert = `INSERT INTO update_events (device_id, update_id, status, state, release_version, revision_digest, percent, at)
      VALUES ($1, $2, $3, $4, $5, $6, $7, now()) RETURNING id`;
    const held = await sql.connect();
    const wake = app.get(EventBus);
    let waking = true;
    // Progress wakes the engine every 50 ms: quick steps, as in a large rollout.
    const waker = (async () => {
      while (waking) {
        wake.publish({
          type: 'device.progress',
          scope: 'devices',
          minRole: 'viewer',
          deviceId: early.device_id,
          data: {},
        });
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    try {
      await held.query('BEGIN');
      const lowId = (
        await held.query(insert, [
          late.device_id,
          late.update_id,
          'succeeded',
          'idle',
          rel.version,
          rel.digest,
          100,
        ])
      ).rows[0].id as string;
      const highId = (
        await sql.query(insert, [
          early.device_id,
          early.update_id,
          'downloading',
          'downloading',
          rel.version,
          rel.digest,
          50,
        ])
      ).rows[0].id as string;
      expect(BigInt(highId)).toBeGreaterThan(BigInt(lowId));
      await until(
        'the later event synced',
        async () =>
          BigInt(
            (
              await sql.query(
                `SELECT last_event_id::text AS id FROM rollout_devices WHERE rollout_id = $1 AND device_id = $2`,
                [created.body.id, early.device_id],
              )
            ).rows[0].id as string,
          ) >= BigInt(highId),
      );
      await held.query('COMMIT');
      await until('the earlier-numbered event synced', async () =>
        (await deviceRows(created.body.id)).some(
          (r) => r.device_id === late.device_id && r.state === 'succeeded',
        ),
      );
    } finally {
      waking = false;
      await waker;
      held.release();
    }
    expect((await api('POST', `/api/v1/rollouts/${created.body.id}/abort`)).status).toBe(200);
  });

  it('configuration without a release: a fleet variable reaches every device with a higher configVersion', async () => {
    const before = Number(
      (
        await sql.query(
          `SELECT max((inventory->>'configVersion')::int) AS v FROM devices WHERE fleet_id = $1`,
          [fleetId],
        )
      ).rows[0].v ?? 0,
    );
    const set = await api<{
      version: number;
      delivered: number;
      variables: Array<{ name: string; value: string }>;
    }>('PUT', '/api/v1/fleets/sim-a/env/web/GREETING', { value: 'hello' });
    expect(set.status).toBe(200);
    expect(set.body).toMatchObject({
      version: 1,
      delivered: 8,
      variables: [{ name: 'GREETING', value: 'hello' }],
    });
    await until(
      'config delivered',
      async () =>
        Number(
          (
            await sql.query(
              `SELECT count(*) AS n FROM devices WHERE fleet_id = $1 AND (inventory->>'configVersion')::int > $2`,
              [fleetId, before],
            )
          ).rows[0].n,
        ) === 8,
    );
    const bad = await api<{ issues: Array<{ path: string }> }>('PUT', '/api/v1/fleets/sim-a/env/web/1BAD', {
      value: 'x',
    });
    expect(bad.status).toBe(400);
    expect(bad.body.issues[0]!.path).toBe('$.name');
    const unset = await api<{ version: number; variables: unknown[] }>(
      'DELETE',
      '/api/v1/fleets/sim-a/env/web/GREETING',
    );
    expect(unset.body).toMatchObject({ version: 2, variables: [] });
    expect(
      (await sql.query(`SELECT action FROM audit_entries WHERE action LIKE 'config.%' ORDER BY id`)).rows.map(
        (r) => r.action,
      ),
    ).toEqual(['config.set', 'config.unset']);
  });
});

/**
 * A device agent reduced to its update contract: it keeps every revision it committed (as the
 * real agent's store does), applies protocol's `checkSequence` (anti-rollback with the stored
 * revisions exception) and reports progress and state exactly as the protocol says. test/sim's
 * SimulatedDevice refuses any lower sequence, so an operator rollback needs this one.
 */
class MiniAgent {
  private client!: mqtt.MqttClient;
  revision: RevisionRef | null = null;
  private readonly stored: RevisionRef[] = [];
  readonly targets: Target[] = [];

  constructor(private readonly creds: DeviceCredentials) {}

  async start(): Promise<void> {
    const t = deviceTopics(this.creds.deviceId);
    this.client = await mqtt.connectAsync(this.creds.mqttUrl, {
      protocolVersion: 5,
      clientId: this.creds.clientId ?? this.creds.deviceId,
      ...(this.creds.username ? { username: this.creds.username, password: this.creds.password ?? '' } : {}),
    });
    this.client.on('message', (_topic, payload) => {
      if (payload.length === 0) return;
      const m = decodeMessage('target', payload);
      if (m.ok) void this.onTarget(m.value.body);
    });
    await this.client.subscribeAsync(t.target, { qos: 1 });
    await this.send('presence', { state: 'online', agentVersion: '0.1.0' });
    await this.report();
  }

  async stop(): Promise<void> {
    await this.client?.endAsync();
  }

  private async send<K extends UplinkKind>(kind: K, body: MessageBodyInput<K>): Promise<void> {
    const enc = encodeMessage(kind, body);
    if (!enc.ok) throw enc.error;
    await this.client.publishAsync(deviceTopics(this.creds.deviceId)[kind], enc.value.payload, { qos: 1 });
  }

  private report(): Promise<void> {
    return this.send('report', {
      revision: this.revision,
      updateState: 'idle',
      board: 'qemu-aarch64',
      agentVersion: '0.1.0',
      containers: this.revision ? [{ name: 'web', state: 'running', restarts: 0 }] : [],
      inventory: { objects: [], freeBytes: 1e9, totalBytes: 2e9 },
      failedRevisions: [],
    });
  }

  private async onTarget(target: Target): Promise<void> {
    this.targets.push(target);
    const revision = {
      digest: manifestDigest(target.release),
      version: target.release.version,
      sequence: target.release.sequence,
    };
    if (revision.digest === this.revision?.digest) return;
    const base = { updateId: target.updateId, revision };
    const seq = checkSequence({
      committed: this.revision?.sequence ?? null,
      candidate: revision.sequence,
      storedCommitted: this.stored.map((s) => s.sequence),
    });
    if (!seq.ok) {
      await this.send('progress', {
        ...base,
        state: 'idle',
        status: 'failed',
        percent: 0,
        reason: seq.error.reason,
        message: seq.error.message,
      });
      return;
    }
    await this.send('progress', { ...base, state: 'installing', status: 'installing', percent: 100 });
    await this.send('progress', { ...base, state: 'testing', status: 'testing', percent: 100 });
    this.revision = revision;
    if (!this.stored.some((s) => s.digest === revision.digest)) this.stored.push(revision);
    await this.send('progress', { ...base, state: 'idle', status: 'succeeded', percent: 100 });
    await this.report();
  }
}

describe('rollback', () => {
  it('returns every device to its last good revision, which it still stores', async () => {
    const f = await fleetWithToken('mini');
    for (let i = 0; i < 4; i++) {
      const creds = await provision(base, f.token, `mini-${i}`);
      const m = new MiniAgent(creds);
      minis.push(m);
      await m.start();
    }
    const obj = await uploadObject(5_000);
    const good = await release({ web: obj });
    const next = await release({ web: obj, extra: await uploadObject(6_000) });
    const first = await api<RolloutView>('POST', '/api/v1/rollouts', {
      release: good.version,
      fleet: 'mini',
      deviceBakeSeconds: 1,
    });
    await waitState(first.body.id, 'completed');
    const second = await api<RolloutView>('POST', '/api/v1/rollouts', {
      release: next.version,
      fleet: 'mini',
      deviceBakeSeconds: 1,
    });
    await waitState(second.body.id, 'completed');
    expect(minis.every((m) => m.revision?.digest === next.digest)).toBe(true);

    const rb = await api<RolloutView>('POST', `/api/v1/rollouts/${second.body.id}/rollback`, {
      reason: 'customer reports',
    });
    expect(rb.status).toBe(200);
    expect(rb.body.state).toBe('rolled-back');
    await until('all rolled back', async () => (await rollout(second.body.id)).counts['rolled-back'] === 4);
    expect(minis.every((m) => m.revision?.digest === good.digest)).toBe(true);
    // Sent as a target with the old release, not forced: the agent's anti-rollback rule allows a stored revision.
    expect(
      minis.every(
        (m) => m.targets.at(-1)?.release.version === good.version && m.targets.at(-1)?.force === false,
      ),
    ).toBe(true);
    const again = await api<{ message: string }>('POST', `/api/v1/rollouts/${second.body.id}/rollback`);
    expect(again.status).toBe(409);
    expect(
      (
        await sql.query(
          `SELECT count(*) AS n FROM audit_entries WHERE action = 'rollout.rollback' AND target_id = $1`,
          [second.body.id],
        )
      ).rows[0].n,
    ).toBe('1');
  });

  it('a new device matching the target joins a completed rollout and gets the release', async () => {
    const f = await sql.query(`SELECT id::text FROM fleets WHERE name = 'mini'`);
    const token = (
      await api<{ token: string }>('POST', `/api/v1/fleets/${f.rows[0].id}/claim-tokens`, { name: 'late' })
    ).body.token;
    const fleetRollouts = (await api<{ items: RolloutView[] }>('GET', '/api/v1/rollouts?fleet=mini')).body
      .items;
    // The newest rollout of the fleet was rolled back; start one more and let it complete.
    const good = await release({ web: await uploadObject(3_000) });
    const r = await api<RolloutView>('POST', '/api/v1/rollouts', {
      release: good.version,
      fleet: 'mini',
      deviceBakeSeconds: 1,
    });
    expect(fleetRollouts.length).toBe(2);
    await waitState(r.body.id, 'completed');
    const late = new MiniAgent(await provision(base, token, 'mini-late'));
    minis.push(late);
    await late.start();
    await until('late device updated', async () => late.revision?.digest === good.digest);
    await until('counted', async () => (await rollout(r.body.id)).counts.succeeded === 5);
  });

  it('a maintenance window reaches every device of the fleet in its target; a bad one is refused', async () => {
    const window = { days: ['sat', 'sun'], start: '22:00', end: '04:00', timeZone: 'Europe/Paris' };
    const set = await api<{ delivered: number; window: unknown }>(
      'PUT',
      '/api/v1/fleets/mini/window',
      window,
    );
    expect(set.status).toBe(200);
    expect(set.body).toEqual({ fleetId: expect.any(String), window, delivered: 5 });
    await until('window delivered', async () =>
      minis.every((m) => JSON.stringify(m.targets.at(-1)?.window) === JSON.stringify(window)),
    );
    const bad = await api<{ issues: Array<{ path: string }> }>('PUT', '/api/v1/fleets/mini/window', {
      start: '25:00',
      end: '04:00',
    });
    expect(bad.status).toBe(400);
    expect(bad.body.issues[0]!.path).toBe('$.start');
    expect((await api<{ window: unknown }>('GET', '/api/v1/fleets/mini/window')).body.window).toEqual(window);
    expect((await api('DELETE', '/api/v1/fleets/mini/window')).status).toBe(200);
    await until('window removed', async () => minis.every((m) => m.targets.at(-1)?.window === undefined));
  });
});

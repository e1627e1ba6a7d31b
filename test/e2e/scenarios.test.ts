// Whole-fleet scenarios across real processes: a hub process (hub/src/main.ts) on Postgres and a
// dynamic-security Mosquitto, simulated devices (test/sim) provisioned through the hub's real
// /api/v1/provision with a claim token, signed releases registered through the API, rollouts
// through POST /api/v1/rollouts. Each scenario breaks one part mid-rollout and checks that
// the fleet ends where it must. Needs Postgres on 127.0.0.1:5432, mosquitto with its dynsec
// plugin, and (for the Postgres restart) /usr/lib/postgresql/15/bin and a `postgres` user.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SimulatedDevice } from '../sim/simulated-device.js';
import { DEFAULT_BEHAVIOUR, type UpdateBehaviour } from '../sim/update-plan.js';
import {
  Api,
  createDatabase,
  createFleet,
  fleetDevices,
  HubProcess,
  PG_ADMIN,
  PrivatePostgres,
  provisionDevices,
  registerReleases,
  rollout,
  startDynsecMosquitto,
  until,
  type DynsecMosquitto,
  type RegisteredRelease,
  type RolloutView,
} from './helpers/scenario-hub.js';

/** Downloads of the 20 kB rootfs take about a second, so a rollout is mid-way for a while. */
const slow = (): UpdateBehaviour => ({
  ...DEFAULT_BEHAVIOUR,
  downloadBytesPerSecond: 20_000,
  installMs: 300,
  testMs: 300,
  downloadSteps: 3,
});

let dir: string;
let broker: DynsecMosquitto;
let db: { url: string; drop(): Promise<void> };
let hub: HubProcess;
let api: Api;
let releases: RegisteredRelease[];
const fleets: SimulatedDevice[][] = [];

const context = () => `--- hub\n${hub?.output.slice(-4000) ?? ''}`;
const wait = <T>(what: string, probe: () => Promise<T | undefined | null | false>, timeoutMs = 90_000) =>
  until(what, probe, timeoutMs, context);

async function startRollout(
  a: Api,
  release: string,
  fleet: string,
  over: Record<string, unknown> = {},
): Promise<string> {
  const r = await a.call<{ id: string }>('POST', '/api/v1/rollouts', {
    release,
    fleet,
    phases: [
      { percent: 25, bakeSeconds: 1 },
      { percent: 100, bakeSeconds: 0 },
    ],
    maxParallel: 4,
    deviceBakeSeconds: 1,
    deviceTimeoutSeconds: 120,
    maxFailurePercent: 0,
    minSuccessPercent: 100,
    ...over,
  });
  return r.id;
}

const inState = (a: Api, id: string, state: string) => async (): Promise<RolloutView | null> => {
  const r = await rollout(a, id);
  return r.state === state ? r : null;
};

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fleet-scenarios-'));
  broker = await startDynsecMosquitto();
  db = await createDatabase(PG_ADMIN, 'scenarios');
  hub = await HubProcess.start({
    databaseUrl: db.url,
    broker,
    dir,
    extra: { MQTT_CLIENT_ID: 'scenario-hub', MQTT_SESSION_EXPIRY_SECONDS: '3600' },
  });
  api = await Api.login(hub);
  releases = await registerReleases(api, ['1.0.0', '2.0.0']);
});

afterAll(async () => {
  for (const f of fleets) for (const d of f) await d.stop().catch(() => {});
  if (hub) await hub.stop();
  await broker?.stop();
  await db?.drop();
  if (dir) await rm(dir, { recursive: true, force: true });
}, 60_000);

describe('fleet scenarios on a real hub, broker and database', () => {
  it('provision → deploy → phased rollout → failures → auto-pause → rollback: every device ends on its previous revision', async () => {
    const [v1, v2] = releases as [RegisteredRelease, RegisteredRelease];
    const fleet = await createFleet(api, 'failing');
    const behaviour: UpdateBehaviour = { ...slow(), downloadBytesPerSecond: 200_000 };
    const devices = await provisionDevices(hub, fleet.claimToken, {
      prefix: 'failing',
      count: 20,
      seed: 11,
      behaviour,
    });
    fleets.push(devices);
    await wait('every device reported', async () => (await fleetDevices(api, fleet.id)).length === 20);

    const deploy = await startRollout(api, '1.0.0', 'failing', { maxParallel: 10 });
    const deployed = await wait('deploy of 1.0.0 completed', inState(api, deploy, 'completed'));
    expect(deployed.counts.succeeded).toBe(20);
    expect(devices.every((d) => d.currentRevision?.digest === v1.digest)).toBe(true);

    // Half of the devices now fail their health gate and roll back on their own.
    behaviour.failureRate = 0.5;
    const bad = await startRollout(api, '2.0.0', 'failing', {
      phases: [
        { count: 2, bakeSeconds: 1 },
        { percent: 50, bakeSeconds: 1 },
        { percent: 100, bakeSeconds: 0 },
      ],
      maxParallel: 5,
      maxFailurePercent: 20,
      minSuccessPercent: 80,
    });
    const paused = await wait('auto-pause', inState(api, bad, 'paused'));
    expect(paused.stateReason).toMatch(/^failure-threshold/);
    // Devices that failed their health gate went back to 1.0.0 on their own.
    expect(paused.counts['rolled-back'], JSON.stringify(paused.counts)).toBeGreaterThan(0);
    // Paused before the whole fleet got the bad release.
    expect(paused.counts['pending'] ?? 0).toBeGreaterThan(0);

    await api.call('POST', `/api/v1/rollouts/${bad}/rollback`, { reason: 'scenario: failures' });
    await wait(
      'every device back on 1.0.0, on the devices and at the hub',
      async () =>
        devices.every((d) => d.currentRevision?.digest === v1.digest) &&
        (await fleetDevices(api, fleet.id)).every(
          (d) => d.currentRelease === '1.0.0' && d.currentRevisionDigest === v1.digest,
        ),
    );
    await wait('rollout rolled back', inState(api, bad, 'rolled-back'));
    expect(devices.some((d) => d.currentRevision?.digest === v2.digest)).toBe(false);
  });

  it('broker restart during a rollout: devices and hub reconnect, every final state reaches the hub, the rollout completes', async () => {
    const [v1] = releases as [RegisteredRelease];
    const fleet = await createFleet(api, 'broker-restart');
    const devices = await provisionDevices(hub, fleet.claimToken, {
      prefix: 'broker',
      count: 20,
      seed: 21,
      behaviour: slow(),
    });
    fleets.push(devices);
    await wait('every device reported', async () => (await fleetDevices(api, fleet.id)).length === 20);
    const id = await startRollout(api, '1.0.0', 'broker-restart');
    const mid = await wait('rollout under way', async () => {
      const r = await rollout(api, id);
      return (r.counts.succeeded ?? 0) >= 2 ? r : null;
    });
    expect(mid.counts.succeeded).toBeLessThan(20);
    await broker.restart();
    const done = await wait(
      'rollout completed after the broker restart',
      inState(api, id, 'completed'),
      180_000,
    );
    expect(done.counts.succeeded).toBe(20);
    expect(devices.every((d) => d.currentRevision?.digest === v1.digest)).toBe(true);
    await wait('every final state at the hub', async () =>
      (await fleetDevices(api, fleet.id)).every((d) => d.currentRevisionDigest === v1.digest && d.online),
    );
  });

  it('hub restart (SIGTERM, start again on the same database) during a rollout: the rollout continues and completes', async () => {
    const [v1] = releases as [RegisteredRelease];
    const fleet = await createFleet(api, 'hub-restart');
    const devices = await provisionDevices(hub, fleet.claimToken, {
      prefix: 'hub',
      count: 20,
      seed: 31,
      behaviour: slow(),
      // As the real agent does: a device's state reaches a hub that missed its progress.
      reportIntervalMs: 2000,
    });
    fleets.push(devices);
    await wait('every device reported', async () => (await fleetDevices(api, fleet.id)).length === 20);
    const id = await startRollout(api, '1.0.0', 'hub-restart');
    const mid = await wait('rollout under way', async () => {
      const r = await rollout(api, id);
      return (r.counts.succeeded ?? 0) >= 2 ? r : null;
    });
    expect(mid.counts.succeeded).toBeLessThan(20);
    await hub.stop();
    expect(await hub.ready()).toBe(false);
    await hub.start();
    const done = await wait(
      'rollout completed after the hub restart',
      inState(api, id, 'completed'),
      120_000,
    );
    expect(done.counts.succeeded).toBe(20);
    expect(devices.every((d) => d.currentRevision?.digest === v1.digest)).toBe(true);
    await wait('every final state at the hub', async () =>
      (await fleetDevices(api, fleet.id)).every((d) => d.currentRevisionDigest === v1.digest),
    );
  });

  it('a device offline for the whole rollout catches up when it returns: it gets its retained target', async () => {
    const [v1] = releases as [RegisteredRelease];
    const fleet = await createFleet(api, 'offline');
    const devices = await provisionDevices(hub, fleet.claimToken, {
      prefix: 'offline',
      count: 11,
      seed: 41,
      behaviour: { ...slow(), downloadBytesPerSecond: 200_000 },
    });
    fleets.push(devices);
    await wait('every device reported', async () => (await fleetDevices(api, fleet.id)).length === 11);
    const away = devices[10]!;
    await away.stop();
    await wait('the hub sees it offline', async () =>
      (await fleetDevices(api, fleet.id)).some((d) => d.id === away.deviceId && !d.online),
    );
    const id = await startRollout(api, '1.0.0', 'offline', {
      phases: [{ percent: 100, bakeSeconds: 0 }],
      maxParallel: 11,
    });
    await wait('the ten online devices succeeded', async () => {
      const r = await rollout(api, id);
      return (r.counts.succeeded ?? 0) === 10 ? r : null;
    });
    expect((await rollout(api, id)).state).not.toBe('completed');
    expect(away.currentRevision).toBeNull();

    await away.connect();
    const done = await wait('rollout completed once the device returned', inState(api, id, 'completed'));
    expect(done.counts.succeeded).toBe(11);
    expect(away.currentRevision?.digest).toBe(v1.digest);
    await wait('its state at the hub', async () =>
      (await fleetDevices(api, fleet.id)).every((d) => d.currentRevisionDigest === v1.digest),
    );
  });
});

describe('Postgres restart during a rollout', () => {
  let pg: PrivatePostgres;
  let pgBroker: DynsecMosquitto;
  let pgHub: HubProcess;
  let devices: SimulatedDevice[] = [];

  afterAll(async () => {
    for (const d of devices) await d.stop().catch(() => {});
    if (pgHub) await pgHub.stop();
    await pgBroker?.stop();
    await pg?.destroy();
  }, 60_000);

  it('the hub survives it (readyz red then green) and the rollout completes', async () => {
    pg = await PrivatePostgres.create();
    pgBroker = await startDynsecMosquitto();
    const pgDb = await createDatabase(pg.adminUrl, 'scenarios_pg');
    pgHub = await HubProcess.start({ databaseUrl: pgDb.url, broker: pgBroker, dir: join(dir, 'pg') });
    const ctx = () => `--- hub\n${pgHub.output.slice(-4000)}`;
    const pgApi = await Api.login(pgHub);
    const [v1] = (await registerReleases(pgApi, ['1.0.0'])) as [RegisteredRelease];
    const fleet = await createFleet(pgApi, 'pg-restart');
    devices = await provisionDevices(pgHub, fleet.claimToken, {
      prefix: 'pg',
      count: 16,
      seed: 51,
      behaviour: slow(),
    });
    await until(
      'every device reported',
      async () => (await fleetDevices(pgApi, fleet.id)).length === 16,
      60_000,
      ctx,
    );
    const id = await startRollout(pgApi, '1.0.0', 'pg-restart');
    const mid = await until(
      'rollout under way',
      async () => {
        const r = await rollout(pgApi, id);
        return (r.counts.succeeded ?? 0) >= 2 ? r : null;
      },
      60_000,
      ctx,
    );
    expect(mid.counts.succeeded).toBeLessThan(16);
    await pg.stop();
    await until('readyz red', async () => !(await pgHub.ready()), 30_000, ctx);
    // Devices keep updating and reporting while the database is away.
    await new Promise((r) => setTimeout(r, 3000));
    await pg.start();
    await until('readyz green', () => pgHub.ready(), 60_000, ctx);
    expect(pgHub.proc?.exitCode).toBeNull();
    const done = await until(
      'rollout completed after the Postgres restart',
      inState(pgApi, id, 'completed'),
      180_000,
      ctx,
    );
    expect(done.counts.succeeded).toBe(16);
    expect(devices.every((d) => d.currentRevision?.digest === v1.digest)).toBe(true);
    await until(
      'every final state at the hub',
      async () => (await fleetDevices(pgApi, fleet.id)).every((d) => d.currentRevisionDigest === v1.digest),
      60_000,
      ctx,
    );
  });
});

// Hub hardening on real Postgres (a fresh database for this file): failed revisions never null,
// decommission sets offline, per-device order of presence and reports across replicas, last
// seen on the hub's clock, telemetry written with COPY, live telemetry events, response bodies
// in the OpenAPI document.
import { randomUUID } from 'node:crypto';
import { cp, mkdtemp, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Presence, TelemetrySample } from '@fleet/protocol';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MIGRATIONS_DIR, runMigrations } from '../../src/database/migration-runner.js';
import { DevicesService } from '../../src/devices/device.service.js';
import { EventBus, type HubEvent } from '../../src/events/event-bus.js';
import type { MessageMeta } from '../../src/ingest/ingest-sink.js';
import { LOG_INGEST, ServicesIngestSink, type LogIngestPort } from '../../src/ingest/services-ingest-sink.js';
import { openApiDocument } from '../../src/app.js';
import { TelemetryService } from '../../src/telemetry/telemetry.service.js';
import { UpdatesService } from '../../src/updates/update.service.js';
import { aReport } from './helpers/reports.js';
import { createTestDatabase, startTestHub, type TestDatabase, type TestHub } from './support/hub-harness.js';

let hub: TestHub;
let fleetId: string;
let sink: ServicesIngestSink;
const events: HubEvent[] = [];
beforeAll(async () => {
  hub = await startTestHub();
  fleetId = (
    (
      await hub.app.inject({
        method: 'POST',
        url: '/api/v1/fleets',
        headers: hub.admin,
        payload: { name: 'hardening' },
      })
    ).json() as { id: string }
  ).id;
  // The sink ingest builds on the real services (as IngestModule does).
  sink = new ServicesIngestSink(
    hub.app.get(DevicesService),
    hub.app.get(UpdatesService),
    hub.app.get(TelemetryService),
    hub.app.get<LogIngestPort>(LOG_INGEST),
  );
  hub.app.get(EventBus).events.subscribe((e) => events.push(e));
});
afterAll(async () => {
  await hub?.close();
});

// Test times start a minute ahead (a whole minute: telemetry buckets align), after every device's provisioning time.
const T = Math.ceil(Date.now() / 60_000) * 60_000 + 60_000;
const at = (seconds: number) => new Date(T + seconds * 1000);

/** What ingest passes along with a message: envelope time, arrival time, retained flag. */
function meta(sentAt: Date, receivedAt: Date, retained = false): MessageMeta {
  return {
    messageId: randomUUID(),
    sentAt,
    receivedAt,
    retained,
    seenAt: retained ? sentAt : receivedAt,
  };
}

async function provisioned(hardwareId: string): Promise<string> {
  const claim = (
    await hub.app.inject({
      method: 'POST',
      url: `/api/v1/fleets/${fleetId}/claim-tokens`,
      headers: hub.admin,
      payload: { name: hardwareId },
    })
  ).json() as { token: string };
  const r = await hub.app.inject({
    method: 'POST',
    url: '/api/v1/provision',
    payload: {
      claimToken: claim.token,
      hardwareId,
      publicKey: Buffer.alloc(32, hardwareId.length).toString('base64'),
      board: 'qemu-aarch64',
      agentVersion: '1.0.0',
    },
  });
  expect(r.statusCode).toBe(200);
  return (r.json() as { deviceId: string }).deviceId;
}

interface DeviceJson {
  online: boolean;
  lastSeenAt: string;
  currentRelease: string | null;
  failedRevisions: string[];
  containers: Array<{ name: string; state: string }>;
}
async function device(id: string): Promise<DeviceJson> {
  const r = await hub.app.inject({ url: `/api/v1/devices/${id}`, headers: hub.admin });
  expect(r.statusCode).toBe(200);
  return r.json() as DeviceJson;
}

async function metric(name: string, labels: string): Promise<number> {
  const text = (await hub.app.inject({ url: '/metrics' })).body;
  const line = text.split('\n').find((l) => l.startsWith(`${name}{${labels}}`));
  return line ? Number(line.split(' ').at(-1)) : 0;
}

describe('failed revisions', () => {
  it('is [] (never null) for a device that never reported, in the detail and the list', async () => {
    const id = await provisioned('never-reported');
    expect((await device(id)).failedRevisions).toEqual([]);
    const list = (
      await hub.app.inject({ url: `/api/v1/devices?q=never-reported`, headers: hub.admin })
    ).json() as {
      items: Array<{ id: string; failedRevisions: unknown }>;
    };
    expect(list.items).toEqual([expect.objectContaining({ id, failedRevisions: [] })]);
    // The column refuses NULL: no write path can bring it back.
    await expect(
      hub.sql.query('UPDATE devices SET failed_revisions = NULL WHERE id = $1', [id]),
    ).rejects.toThrow(/null value in column "failed_revisions"/);
  });

  it('the migration backfills NULLs left by older hubs', async () => {
    const all = (await readdir(MIGRATIONS_DIR)).filter((n) => /^\d{14}_/.test(n)).sort();
    const mine = all.find((n) => n.endsWith('_device_state_order'));
    expect(mine).toBeDefined();
    const db: TestDatabase = await createTestDatabase('hub_backfill');
    const dir = await mkdtemp(join(tmpdir(), 'fleet-backfill-'));
    try {
      // A database as an older hub left it: every migration before this one applied.
      await cp(MIGRATIONS_DIR, dir, {
        recursive: true,
        filter: (src) => !all.some((n) => n >= mine! && src.includes(n)),
      });
      await runMigrations(db.url, { dir });
      const c = new pg.Client({ connectionString: db.url });
      await c.connect();
      try {
        await c.query(`INSERT INTO fleets (id, name) VALUES (gen_random_uuid(), 'old')`);
        await c.query(`INSERT INTO devices (id, fleet_id, name, hardware_id, public_key, board, agent_version, tags, credentials_hash)
          SELECT gen_random_uuid(), id, 'old-device', 'hw-old', 'k', 'b', '1.0.0', '{}', '' FROM fleets`);
        expect((await c.query('SELECT failed_revisions FROM devices')).rows).toEqual([
          { failed_revisions: null },
        ]);
        await runMigrations(db.url);
        expect((await c.query('SELECT failed_revisions FROM devices')).rows).toEqual([
          { failed_revisions: [] },
        ]);
      } finally {
        await c.end();
      }
    } finally {
      await db.drop();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('decommission', () => {
  it('sets an online device offline (its kicked client sends no Last Will) and says so on the event bus', async () => {
    const id = await provisioned('decom-online');
    await sink.recordPresence(id, { state: 'online' }, meta(new Date(), new Date()));
    expect((await device(id)).online).toBe(true);
    events.length = 0;
    const del = await hub.app.inject({ method: 'DELETE', url: `/api/v1/devices/${id}`, headers: hub.admin });
    expect(del.statusCode).toBe(204);
    expect((await device(id)).online).toBe(false);
    const mine = events.filter((e) => e.deviceId === id && e.type.startsWith('device.'));
    expect(mine.map((e) => `${e.type}:${String(e.data.state ?? '')}`)).toEqual([
      'device.decommissioned:',
      'device.presence:offline',
    ]);
    const summary = (await hub.app.inject({ url: '/api/v1/devices/summary', headers: hub.admin })).json() as {
      online: number;
    };
    expect(summary.online).toBe(0);
    // A late report from the dying session changes nothing.
    await sink.recordReport(id, aReport('9.9.9'), meta(new Date(), new Date()));
    expect(await device(id)).toMatchObject({ online: false, currentRelease: null });
  });
});

describe('bulk commands', () => {
  it('sends one command to many devices: one result each, duplicates once, decommissioned ones refused; bad bodies 400', async () => {
    const a = await provisioned('bulk-a');
    const b = await provisioned('bulk-b');
    const gone = await provisioned('bulk-gone');
    await hub.app.inject({ method: 'DELETE', url: `/api/v1/devices/${gone}`, headers: hub.admin });
    const r = await hub.app.inject({
      method: 'POST',
      url: '/api/v1/devices/commands',
      headers: hub.admin,
      payload: { deviceIds: [a, b, a, gone], command: { kind: 'restart-container', container: 'web' } },
    });
    expect(r.statusCode).toBe(200);
    const results = r.json() as Array<{
      deviceId: string;
      command: { kind: string; params: unknown } | null;
      error: string | null;
    }>;
    expect(results.map((x) => [x.deviceId, x.command?.kind ?? null, x.error !== null])).toEqual([
      [a, 'restart-container', false],
      [b, 'restart-container', false],
      [gone, null, true],
    ]);
    expect(results[0]!.command!.params).toEqual({ container: 'web' });
    const cmds = (
      await hub.app.inject({ url: `/api/v1/devices/${b}/commands`, headers: hub.admin })
    ).json() as unknown[];
    expect(cmds).toHaveLength(1);
    for (const [payload, path] of [
      [{ deviceIds: [], command: { kind: 'reboot' } }, '$.deviceIds'],
      [{ deviceIds: ['nope'], command: { kind: 'reboot' } }, '$.deviceIds[0]'],
      [{ deviceIds: [a], command: { kind: 'restart-container' } }, '$.command'],
    ] as const) {
      const bad = await hub.app.inject({
        method: 'POST',
        url: '/api/v1/devices/commands',
        headers: hub.admin,
        payload,
      });
      expect(bad.statusCode).toBe(400);
      expect(
        (bad.json() as { issues: Array<{ path: string }> }).issues.map((i) => i.path).join(' '),
      ).toContain(path);
    }
  });
});

describe('per-device order across replicas', () => {
  it('an older report applied after a newer one does not overwrite it', async () => {
    const id = await provisioned('order-report');
    const stale = await metric('fleet_hub_stale_device_messages_total', 'kind="report"');
    // Replica A applies the device's report sent at 10:00:02; replica B then applies the one
    // sent at 10:00:01, which the broker handed it first.
    await sink.recordReport(
      id,
      aReport('2.0.0', { containers: [{ name: 'web', state: 'running', restarts: 1 }] }),
      meta(at(2), at(2.1)),
    );
    await sink.recordReport(
      id,
      aReport('1.0.0', { containers: [{ name: 'web', state: 'crash-loop', restarts: 0 }] }),
      meta(at(1), at(2.2)),
    );
    expect(await device(id)).toMatchObject({
      currentRelease: '2.0.0',
      containers: [{ name: 'web', state: 'running' }],
      // The device was alive when the late one arrived.
      lastSeenAt: at(2.2).toISOString(),
    });
    expect(await metric('fleet_hub_stale_device_messages_total', 'kind="report"')).toBe(stale + 1);
    // A newer one applies, and so does the same report again (a redelivery).
    await sink.recordReport(id, aReport('3.0.0'), meta(at(3), at(3.1)));
    await sink.recordReport(id, aReport('3.0.0'), meta(at(3), at(3.2)));
    expect((await device(id)).currentRelease).toBe('3.0.0');
    const history = (
      await hub.app.inject({ url: `/api/v1/devices/${id}/containers/history`, headers: hub.admin })
    ).json() as { items: Array<{ fromState: string | null; toState: string }> };
    expect(history.items.map((e) => `${e.fromState}->${e.toState}`)).toEqual([
      'running->running', // restarts 1 -> 0 in 3.0.0
      'null->running',
    ]);
  });

  it('a device clock ahead of the hub cannot hold later reports back after it is corrected', async () => {
    const id = await provisioned('order-clock');
    // Sent "in an hour" by a wrong clock: ordered as if sent when it arrived.
    await sink.recordReport(id, aReport('1.0.0'), meta(at(3600), at(10)));
    // The clock was corrected: this one is truly later.
    await sink.recordReport(id, aReport('1.1.0'), meta(at(11), at(11.1)));
    expect((await device(id)).currentRelease).toBe('1.1.0');
  });

  it('a new boot id starts the report order over (a rebooted device clock may begin in the past)', async () => {
    const id = await provisioned('order-boot');
    await sink.recordPresence(id, { state: 'online', bootId: 'boot-1' }, meta(at(0), at(0)));
    await sink.recordReport(id, aReport('1.0.0'), meta(at(5), at(5)));
    await sink.recordPresence(id, { state: 'online', bootId: 'boot-2' }, meta(new Date(0), at(60)));
    await sink.recordReport(id, aReport('1.1.0'), meta(new Date(1000), at(61)));
    expect((await device(id)).currentRelease).toBe('1.1.0');
    // The same boot id again does not reset it.
    await sink.recordPresence(id, { state: 'online', bootId: 'boot-2' }, meta(new Date(0), at(62)));
    await sink.recordReport(id, aReport('0.1.0'), meta(new Date(500), at(63)));
    expect((await device(id)).currentRelease).toBe('1.1.0');
  });

  it('orders presence by arrival: a session’s Last Will (dated at connect) still ends it; a late online does not undo a later offline', async () => {
    const id = await provisioned('order-presence');
    const connect = at(0);
    const online: Presence = { state: 'online', agentVersion: '1.0.0' };
    const offline: Presence = { state: 'offline', agentVersion: '1.0.0' };
    await sink.recordPresence(id, online, meta(at(0.5), at(0.6)));
    await sink.recordReport(id, aReport('1.0.0'), meta(at(30), at(30)));
    // The Last Will: built before CONNECT, so its envelope time is older than everything above.
    await sink.recordPresence(id, offline, meta(connect, at(300)));
    expect(await device(id)).toMatchObject({ online: false, lastSeenAt: at(300).toISOString() });
    // Two replicas: the next session's online (received 400) applied first, then a stale
    // offline received at 399 by the other replica.
    const stale = await metric('fleet_hub_stale_device_messages_total', 'kind="presence"');
    await sink.recordPresence(id, online, meta(at(399.5), at(400)));
    await sink.recordPresence(id, offline, meta(at(0), at(399)));
    expect((await device(id)).online).toBe(true);
    expect(await metric('fleet_hub_stale_device_messages_total', 'kind="presence"')).toBe(stale + 1);
    // A report received before an offline that was applied first does not bring the device back.
    await sink.recordPresence(id, offline, meta(at(399.5), at(500)));
    await sink.recordReport(id, aReport('1.1.0'), meta(at(499), at(499)));
    expect(await device(id)).toMatchObject({ online: false, currentRelease: '1.1.0' });
    // One received after it does (the device is back, and its online may come later).
    await sink.recordReport(id, aReport('1.1.0'), meta(at(501), at(501)));
    expect((await device(id)).online).toBe(true);
  });
});

describe('last seen', () => {
  it('is the hub’s receive time for a Last Will, whose envelope time is the connect time', async () => {
    const id = await provisioned('seen-lwt');
    const connectedHoursAgo = new Date(Date.now() - 3 * 3600_000);
    await sink.recordPresence(id, { state: 'online' }, meta(connectedHoursAgo, connectedHoursAgo));
    const received = new Date();
    await sink.recordPresence(id, { state: 'offline' }, meta(connectedHoursAgo, received));
    expect(await device(id)).toMatchObject({ online: false, lastSeenAt: received.toISOString() });
    const ev = events.filter((e) => e.deviceId === id && e.type === 'device.presence').at(-1);
    expect(ev?.data).toEqual({ state: 'offline', at: received.toISOString() });
  });

  it('a retained presence (delivered at subscribe, possibly old) is applied but dated by the device', async () => {
    const id = await provisioned('seen-retained');
    const provisionedAt = Date.parse((await device(id)).lastSeenAt);
    const sent = new Date(provisionedAt + 1000);
    await sink.recordPresence(id, { state: 'online' }, meta(sent, new Date(provisionedAt + 3600_000), true));
    expect(await device(id)).toMatchObject({ online: true, lastSeenAt: sent.toISOString() });
  });
});

describe('telemetry', () => {
  const sample = (second: number, over: Partial<TelemetrySample> = {}): TelemetrySample => ({
    time: at(second).toISOString(),
    cpuPercent: 12.5,
    memUsedBytes: 9_007_199_254_740_991,
    memTotalBytes: 2000,
    diskUsedBytes: 3000,
    diskTotalBytes: 4000,
    temperatureC: 41.5,
    uptimeSeconds: 1e-3,
    ...over,
  });

  it('writes batches with COPY, skips samples already stored (a replay) and device ids that are not uuids', async () => {
    const id = await provisioned('telemetry-copy');
    const telemetry = hub.app.get(TelemetryService);
    expect(
      await telemetry.ingestBatch([
        {
          deviceId: id,
          samples: [sample(0), sample(1, { temperatureC: undefined, uptimeSeconds: undefined })],
        },
        { deviceId: 'not-a-uuid', samples: [sample(0)] },
      ]),
    ).toBe(2);
    // A replay overlapping what is stored, with a duplicate inside the batch itself.
    expect(
      await telemetry.ingestBatch([{ deviceId: id, samples: [sample(1), sample(2), sample(2), sample(0)] }]),
    ).toBe(1);
    const { rows } = await hub.sql.query<Record<string, unknown>>(
      `SELECT extract(epoch FROM at)::int - $2 AS s, cpu_percent, mem_used_bytes::text, temperature_c, uptime_seconds
       FROM telemetry WHERE device_id = $1 ORDER BY at`,
      [id, T / 1000],
    );
    expect(rows).toEqual([
      {
        s: 0,
        cpu_percent: 12.5,
        mem_used_bytes: '9007199254740991',
        temperature_c: 41.5,
        uptime_seconds: 0.001,
      },
      {
        s: 1,
        cpu_percent: 12.5,
        mem_used_bytes: '9007199254740991',
        temperature_c: null,
        uptime_seconds: null,
      },
      {
        s: 2,
        cpu_percent: 12.5,
        mem_used_bytes: '9007199254740991',
        temperature_c: 41.5,
        uptime_seconds: 0.001,
      },
    ]);
    const api = (
      await hub.app.inject({
        url: `/api/v1/devices/${id}/telemetry?from=${at(0).toISOString()}&to=${at(10).toISOString()}&bucketSeconds=10`,
        headers: hub.admin,
      })
    ).json() as Array<{ samples: number }>;
    expect(api).toMatchObject([{ samples: 3 }]);
  });

  it('streams a device.telemetry event over SSE, at most one per device every 5 s', async () => {
    const id = await provisioned('telemetry-live');
    const other = await provisioned('telemetry-other');
    await hub.app.listen({ port: 0, host: '127.0.0.1' });
    const { port } = hub.app.getHttpServer().address() as { port: number };
    const ac = new AbortController();
    const res = await fetch(`http://127.0.0.1:${port}/api/v1/events?deviceId=${id}&type=device.telemetry`, {
      headers: hub.admin,
      signal: ac.signal,
    });
    expect(res.headers.get('content-type')).toContain('text/event-stream');
    const reader = res.body!.getReader();
    events.length = 0;
    // Through the ingest sink as the ingest queue calls it: one row per sample.
    await sink.insertTelemetry([
      { deviceId: id, ...sample(100) },
      { deviceId: id, ...sample(102, { cpuPercent: 99 }) },
      { deviceId: other, ...sample(100) },
    ]);
    await sink.insertTelemetry([{ deviceId: id, ...sample(104) }]);
    let text = '';
    const framed = () => {
      const i = text.indexOf('event: device.telemetry');
      return i >= 0 && text.includes('\n\n', i);
    };
    while (!framed()) text += new TextDecoder().decode((await reader.read()).value);
    ac.abort();
    const frame = text.slice(text.indexOf('event: device.telemetry'));
    const data = JSON.parse(frame.split('\n')[1]!.replace(/^data: /, '')) as HubEvent;
    expect(data).toMatchObject({
      type: 'device.telemetry',
      deviceId: id,
      fleetId,
      scope: 'telemetry',
      data: { sample: { time: at(102).toISOString(), cpuPercent: 99 } },
    });
    // Throttled: the second batch (within 5 s of the first) produced no event for this device.
    const live = events.filter((e) => e.type === 'device.telemetry');
    expect(live.map((e) => e.deviceId).sort()).toEqual([id, other].sort());
  });
});

describe('OpenAPI', () => {
  it('declares a response body for every operation hubctl and web use', () => {
    const doc = JSON.parse(JSON.stringify(openApiDocument(hub.app))) as {
      paths: Record<
        string,
        Record<string, { responses: Record<string, { content?: Record<string, unknown> }> }>
      >;
    };
    const missing: string[] = [];
    let checked = 0;
    for (const [path, ops] of Object.entries(doc.paths)) {
      for (const [method, op] of Object.entries(ops)) {
        const ok = Object.entries(op.responses).filter(([s]) => s.startsWith('2'));
        // No body by design: 204s and HEAD.
        if (method === 'head' || ok.every(([s]) => s === '204')) continue;
        checked++;
        if (!ok.some(([, r]) => r.content && Object.keys(r.content).length > 0))
          missing.push(`${method.toUpperCase()} ${path}`);
      }
    }
    expect(checked).toBeGreaterThan(40);
    expect(missing).toEqual([]);
  });
});

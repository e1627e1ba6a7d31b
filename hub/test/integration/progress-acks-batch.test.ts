// Set-based progress and command-ack writes on real Postgres (decision 0092): a batch stores
// what the one-by-one forms store (rows, update events in order, hub events), for known,
// unknown and decommissioned devices, several messages of a device in one batch, two
// "replicas" at once; through ingest, a device's messages keep their order and a message
// Postgres refuses is isolated (the batch retried, then split) while the others are stored.
import { randomUUID } from 'node:crypto';
import {
  deviceTopics,
  encodeMessage,
  type MessageBodyInput,
  type Progress,
  type UplinkKind,
} from '@fleet/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DeviceRepository } from '../../src/devices/device.repository.js';
import { DevicesService } from '../../src/devices/device.service.js';
import { EventBus, type HubEvent } from '../../src/events/event-bus.js';
import { IngestMetrics } from '../../src/ingest/ingest-metrics.js';
import { DEFAULT_INGEST_OPTIONS, IngestService } from '../../src/ingest/ingest.service.js';
import { LOG_INGEST, ServicesIngestSink, type LogIngestPort } from '../../src/ingest/services-ingest-sink.js';
import { MetricsRegistry } from '../../src/metrics/metrics.registry.js';
import { TelemetryService } from '../../src/telemetry/telemetry.service.js';
import { UpdatesService } from '../../src/updates/update.service.js';
import { digest } from './helpers/reports.js';
import { startTestHub, type TestHub } from './support/hub-harness.js';

let hub: TestHub;
let updates: UpdatesService;
let devices: DevicesService;
let fleetId: string;
const events: HubEvent[] = [];
beforeAll(async () => {
  hub = await startTestHub();
  updates = hub.app.get(UpdatesService);
  devices = hub.app.get(DevicesService);
  fleetId = randomUUID();
  await hub.sql.query(`INSERT INTO fleets (id, name) VALUES ($1, 'progress-batch')`, [fleetId]);
  hub.app.get(EventBus).events.subscribe((e) => events.push(e));
});
afterAll(async () => {
  await hub?.close();
});

const T = Math.ceil(Date.now() / 1000) * 1000 + 60_000;
const at = (seconds: number) => new Date(T + seconds * 1000);

/** `n` devices inserted directly (offline, last seen at T), provisioning is not tested here. */
async function someDevices(n: number): Promise<string[]> {
  const ids = Array.from({ length: n }, () => randomUUID());
  await hub.sql.query(
    `INSERT INTO devices (id, fleet_id, name, hardware_id, public_key, board, agent_version, tags,
       credentials_hash, online, last_seen_at)
     SELECT id, $1, 'd-' || id, 'hw-' || id, 'none', 'qemu-aarch64', '0.1.0', '{}', '', false, $3
     FROM unnest($2::uuid[]) AS x(id)`,
    [fleetId, ids, at(0)],
  );
  return ids;
}

const aProgress = (over: Partial<Progress> = {}): Progress => ({
  updateId: 'u1',
  revision: { digest: digest('3'), version: '1.1.0', sequence: 2 },
  state: 'downloading',
  status: 'downloading',
  percent: 10,
  ...over,
});

/** What is stored about a device's update: its row and its events in id order (ids left out). */
async function stored(id: string) {
  const device = await hub.sql.query(
    `SELECT update_state, update_status, update_reason, online, last_seen_at FROM devices WHERE id = $1`,
    [id],
  );
  const history = await hub.sql.query(
    `SELECT update_id, status, state, release_version, revision_digest, percent, reason, message,
       failed_boot_log, at FROM update_events WHERE device_id = $1 ORDER BY id`,
    [id],
  );
  return { device: device.rows[0] as Record<string, unknown>, history: history.rows };
}

/** The device.progress / device.command events of a device, in order (the device id left out). */
const eventsOf = (type: string, id: string) =>
  events
    .filter((e) => e.type === type && e.deviceId === id)
    .map((e) => ({ fleetId: e.fleetId, data: e.data }));

describe('recordProgresses', () => {
  // Per device, the messages in the order the device sent them: several per device in one batch.
  const scripts: Progress[][] = [
    [
      aProgress({ percent: 10 }),
      aProgress({ percent: 55.5 }),
      aProgress({ state: 'installing', status: 'installing', percent: 100 }),
    ],
    // Envelope times going back: last seen keeps the latest, the events keep their own times.
    [aProgress({ percent: 5 }), aProgress({ state: 'testing', status: 'testing', percent: 100 })],
    [
      aProgress({
        state: 'idle',
        status: 'rolled-back',
        percent: 100,
        reason: 'health-check-failed',
        message: 'web exited 3',
        failedBootLog: 'kernel panic',
      }),
    ],
    [aProgress({ state: 'idle', status: 'succeeded', percent: 100 })],
  ];
  const times = [[at(1), at(2), at(3)], [at(5), at(4)], [at(-10)], [at(7)]];

  it('stores what the one-by-one form stores: rows, events in order, hub events', async () => {
    const single = await someDevices(scripts.length);
    const batch = await someDevices(scripts.length);
    events.length = 0;
    for (const [d, script] of scripts.entries())
      for (const [k, p] of script.entries())
        expect(await updates.recordProgress(single[d]!, p, times[d]![k]!)).toBe(true);
    // One call, the devices interleaved, each device's messages in its order.
    const items = scripts
      .flatMap((script, d) => script.map((progress, k) => ({ d, k, progress })))
      .sort((a, b) => a.k - b.k || b.d - a.d)
      .map(({ d, k, progress }) => ({ deviceId: batch[d]!, progress, at: times[d]![k]! }));
    expect(await updates.recordProgresses(items)).toEqual(items.map(() => true));
    for (const d of scripts.keys()) {
      const one = await stored(single[d]!);
      expect(await stored(batch[d]!)).toEqual(one);
      expect(eventsOf('device.progress', batch[d]!)).toEqual(eventsOf('device.progress', single[d]!));
      expect(one.history).toHaveLength(scripts[d]!.length);
    }
    expect((await stored(batch[0]!)).device).toMatchObject({
      update_state: 'installing',
      online: true,
      last_seen_at: at(3),
    });
    expect((await stored(batch[1]!)).history.map((h) => h.at)).toEqual([at(5), at(4)]);
    expect((await stored(batch[1]!)).device).toMatchObject({ update_status: 'testing', last_seen_at: at(5) });
    // An earlier time than the stored last seen does not move it back.
    expect((await stored(batch[2]!)).device).toMatchObject({ online: true, last_seen_at: at(0) });
  });

  it('unknown, decommissioned and malformed device ids are false and store nothing; the others apply', async () => {
    const [known, gone, twin] = await someDevices(3);
    await hub.sql.query(`UPDATE devices SET decommissioned_at = now() WHERE id = $1`, [gone]);
    const unknown = randomUUID();
    events.length = 0;
    const ids = [unknown, known!, gone!, 'not-a-device', twin!];
    const result = await updates.recordProgresses(
      ids.map((deviceId) => ({ deviceId, progress: aProgress(), at: at(1) })),
    );
    expect(result).toEqual([false, true, false, false, true]);
    for (const id of [known!, twin!]) expect((await stored(id)).history).toHaveLength(1);
    expect((await stored(gone!)).history).toEqual([]);
    const singleResults = await Promise.all(
      [unknown, gone!, 'not-a-device'].map((id) => updates.recordProgress(id, aProgress(), at(1))),
    );
    expect(singleResults).toEqual([false, false, false]);
    expect(events.filter((e) => e.type === 'device.progress').map((e) => e.deviceId)).toEqual([known, twin]);
  });

  it('a message the database cannot hold (a NUL character) is refused and counted; the rest of the batch is stored', async () => {
    const [a, b] = await someDevices(2);
    const before = await metric('fleet_hub_refused_device_messages_total', 'kind="progress"');
    const result = await updates.recordProgresses([
      { deviceId: a!, progress: aProgress({ message: 'bad\u0000byte' }), at: at(1) },
      { deviceId: b!, progress: aProgress(), at: at(1) },
    ]);
    expect(result).toEqual([false, true]);
    expect((await stored(a!)).history).toEqual([]);
    expect((await stored(b!)).history).toHaveLength(1);
    expect(await metric('fleet_hub_refused_device_messages_total', 'kind="progress"')).toBe(before + 1);
  });

  it('two replicas writing overlapping batches at once (reverse order): no deadlock, every event stored', async () => {
    const ids = await someDevices(200);
    const write = (list: string[], percent: number) =>
      updates.recordProgresses(
        list.map((deviceId) => ({ deviceId, progress: aProgress({ percent }), at: at(1) })),
      );
    const results = await Promise.all([write(ids, 20), write([...ids].reverse(), 30), write(ids, 40)]);
    expect(results.flat().every(Boolean)).toBe(true);
    const r = await hub.sql.query<{ n: string }>(
      `SELECT count(*) AS n FROM update_events WHERE device_id = ANY($1::uuid[])`,
      [ids],
    );
    expect(Number(r.rows[0]!.n)).toBe(600);
  });
});

describe('recordCommandAcks', () => {
  async function commandFor(deviceId: string): Promise<string> {
    const cmd = await hub.app.get(DeviceRepository).createCommand({
      deviceId,
      kind: 'restart-container',
      params: { container: 'web' },
      createdBy: 'test',
    });
    return cmd.id;
  }
  async function command(id: string) {
    const r = await hub.sql.query(`SELECT status, ack_at, message FROM device_commands WHERE id = $1`, [id]);
    return r.rows[0] as Record<string, unknown>;
  }

  it('stores what the one-by-one form stores; acks of another device’s, unknown or malformed commands are false', async () => {
    const [a, b, other] = await someDevices(3);
    const [ca, cb] = [await commandFor(a!), await commandFor(b!)];
    const [sa, sb] = [await commandFor(a!), await commandFor(b!)]; // the one-by-one twins
    events.length = 0;
    const script = (ids: { a: string; b: string }) => [
      { deviceId: a!, ack: { commandId: ids.a, status: 'accepted' as const }, at: at(1) },
      { deviceId: other!, ack: { commandId: ids.b, status: 'failed' as const }, at: at(1) },
      { deviceId: b!, ack: { commandId: ids.b, status: 'rejected' as const, message: 'busy' }, at: at(2) },
      { deviceId: a!, ack: { commandId: ids.a, status: 'done' as const, message: 'restarted' }, at: at(3) },
      { deviceId: a!, ack: { commandId: randomUUID(), status: 'done' as const }, at: at(3) },
      { deviceId: a!, ack: { commandId: 'c-1', status: 'done' as const }, at: at(3) },
    ];
    const single: boolean[] = [];
    for (const i of script({ a: sa, b: sb }))
      single.push(await devices.recordCommandAck(i.deviceId, i.ack, i.at));
    const singleEvents = events.splice(0).filter((e) => e.type === 'device.command');
    const batch = await devices.recordCommandAcks(script({ a: ca, b: cb }));
    expect(batch).toEqual(single);
    expect(batch).toEqual([true, false, true, true, false, false]);
    expect(await command(ca)).toEqual(await command(sa));
    expect(await command(cb)).toEqual(await command(sb));
    expect(await command(ca)).toEqual({ status: 'done', ack_at: at(3), message: 'restarted' });
    const strip = (e: HubEvent, ids: Record<string, string>) => ({
      deviceId: e.deviceId,
      data: { ...e.data, commandId: ids[e.data.commandId as string] },
    });
    expect(
      events.filter((e) => e.type === 'device.command').map((e) => strip(e, { [ca]: 'a', [cb]: 'b' })),
    ).toEqual(singleEvents.map((e) => strip(e, { [sa]: 'a', [sb]: 'b' })));
  });

  it('an ack whose message the database cannot hold is refused and counted; the others are stored', async () => {
    const [a, b] = await someDevices(2);
    const [ca, cb] = [await commandFor(a!), await commandFor(b!)];
    const before = await metric('fleet_hub_refused_device_messages_total', 'kind="ack"');
    const result = await devices.recordCommandAcks([
      { deviceId: a!, ack: { commandId: ca, status: 'done', message: 'nul\u0000' }, at: at(1) },
      { deviceId: b!, ack: { commandId: cb, status: 'done' }, at: at(1) },
    ]);
    expect(result).toEqual([false, true]);
    expect(await command(ca)).toMatchObject({ status: 'pending', ack_at: null });
    expect(await command(cb)).toMatchObject({ status: 'done' });
    expect(await metric('fleet_hub_refused_device_messages_total', 'kind="ack"')).toBe(before + 1);
  });
});

describe('through ingest', () => {
  function anIngest() {
    const sink = new ServicesIngestSink(
      devices,
      updates,
      hub.app.get(TelemetryService),
      hub.app.get<LogIngestPort>(LOG_INGEST),
    );
    const metrics = new IngestMetrics(new MetricsRegistry());
    const lines: string[] = [];
    const logger = { log: () => undefined, warn: () => undefined, error: (m: string) => void lines.push(m) };
    const ingest = new IngestService(sink, metrics, logger, {
      ...DEFAULT_INGEST_OPTIONS,
      recordRetryDelaysMs: [1, 1],
    });
    return { ingest, metrics, lines };
  }
  function payload<K extends UplinkKind>(kind: K, body: MessageBodyInput<K>, time: Date): Buffer {
    const encoded = encodeMessage(kind, body, { time });
    if (!encoded.ok) throw encoded.error;
    return encoded.value.payload;
  }
  const live = { retained: false };

  it('each device’s progress is stored in the order it was sent, many devices per batch', async () => {
    const ids = await someDevices(50);
    const { ingest, metrics } = anIngest();
    const steps = [
      { state: 'downloading', status: 'downloading', percent: 0 },
      { state: 'downloading', status: 'downloading', percent: 50 },
      { state: 'installing', status: 'installing', percent: 100 },
      { state: 'testing', status: 'testing', percent: 100 },
      { state: 'idle', status: 'succeeded', percent: 100 },
    ] as const;
    for (const [k, step] of steps.entries())
      for (const id of ids)
        await ingest.handle(deviceTopics(id).progress, payload('progress', aProgress(step), at(k)), live);
    await ingest.drain();
    for (const id of ids) {
      const { device, history } = await stored(id);
      expect(history.map((h) => `${h.status}${h.percent}`)).toEqual(
        steps.map((s) => `${s.status}${s.percent}`),
      );
      expect(device).toMatchObject({ update_status: 'succeeded', update_state: 'idle' });
    }
    expect(metrics.sinkErrors.get({ kind: 'progress' })).toBe(0);
    await ingest.close();
  });

  it('a message Postgres refuses fails its batch, which is retried and split: only that one is dropped', async () => {
    // A constraint stands for data the database refuses that no check before the statement knows.
    await hub.sql.query(
      `ALTER TABLE update_events ADD CONSTRAINT test_poison CHECK (message IS DISTINCT FROM 'poison')`,
    );
    try {
      const ids = await someDevices(9);
      const { ingest, metrics, lines } = anIngest();
      for (const [k, id] of ids.entries())
        await ingest.handle(
          deviceTopics(id).progress,
          payload('progress', aProgress(k === 4 ? { message: 'poison' } : {}), at(1)),
          live,
        );
      await ingest.drain();
      const counts = await Promise.all(ids.map(async (id) => (await stored(id)).history.length));
      expect(counts).toEqual(ids.map((_, k) => (k === 4 ? 0 : 1)));
      expect(metrics.sinkErrors.get({ kind: 'progress' })).toBe(1);
      expect(lines).toEqual([expect.stringContaining(`dropped progress from device ${ids[4]}`)]);
      await ingest.close();
    } finally {
      await hub.sql.query(`ALTER TABLE update_events DROP CONSTRAINT test_poison`);
    }
  });
});

async function metric(name: string, labels: string): Promise<number> {
  const text = (await hub.app.inject({ url: '/metrics' })).body;
  const line = text.split('\n').find((l) => l.startsWith(`${name}{${labels}}`));
  return line ? Number(line.split(' ').at(-1)) : 0;
}

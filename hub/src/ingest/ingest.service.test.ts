import { randomUUID } from 'node:crypto';
import { describe, expect, test } from 'vitest';
import {
  allDevicesFilter,
  deviceTopics,
  encodeMessage,
  sharedFilter,
  type MessageBodyInput,
  type UplinkKind,
} from '@fleet/protocol';
import type { MqttMessageListener } from '../mqtt/hub-mqtt-client.js';
import { MetricsRegistry } from '../metrics/metrics.registry.js';
import { IngestMetrics } from './ingest-metrics.js';
import type { IngestSink, LogRow, MessageMeta, StateItem, TelemetryRow } from './ingest-sink.js';
import { DEFAULT_INGEST_OPTIONS, IngestService, type IngestOptions } from './ingest.service.js';

// Builders with defaults (CONVENTIONS 12).
const aReport = (over: Partial<MessageBodyInput<'report'>> = {}): MessageBodyInput<'report'> => ({
  revision: null,
  updateState: 'idle',
  board: 'qemu-aarch64',
  agentVersion: '1.0.0',
  containers: [],
  inventory: { objects: [], freeBytes: 1000, totalBytes: 2000 },
  ...over,
});
const aSample = (time = new Date().toISOString()) => ({
  time,
  cpuPercent: 12.5,
  memUsedBytes: 100,
  memTotalBytes: 200,
  diskUsedBytes: 300,
  diskTotalBytes: 400,
});

function payload<K extends UplinkKind>(
  kind: K,
  body: MessageBodyInput<K>,
  opts: { id?: string; time?: Date } = {},
): Buffer {
  const encoded = encodeMessage(kind, body, opts);
  if (!encoded.ok) throw encoded.error;
  return encoded.value.payload;
}

/** Records what ingest delivers; `failures` makes the next record calls reject. */
class RecordingSink implements IngestSink {
  readonly calls: { method: string; deviceId: string; body: unknown; meta: MessageMeta }[] = [];
  readonly telemetry: TelemetryRow[] = [];
  readonly logs: LogRow[] = [];
  failures = 0;
  #record(method: string, deviceId: string, body: unknown, meta: MessageMeta): Promise<void> {
    if (this.failures > 0) {
      this.failures--;
      return Promise.reject(new Error('database away'));
    }
    this.calls.push({ method, deviceId, body, meta });
    return Promise.resolve();
  }
  recordPresence = (d: string, b: unknown, m: MessageMeta) => this.#record('presence', d, b, m);
  recordReport = (d: string, b: unknown, m: MessageMeta) => this.#record('report', d, b, m);
  recordProgress = (d: string, b: unknown, m: MessageMeta) => this.#record('progress', d, b, m);
  recordCommandAck = (d: string, b: unknown, m: MessageMeta) => this.#record('ack', d, b, m);
  insertTelemetry = async (rows: readonly TelemetryRow[]) => void this.telemetry.push(...rows);
  insertLogs = async (rows: readonly LogRow[]) => void this.logs.push(...rows);
}

/**
 * A sink with the batch methods. `gate` holds every batch until `open()`; `refuse(id)` makes
 * any batch that contains that device reject (data it cannot store).
 */
class BatchSink extends RecordingSink {
  readonly batches: { method: string; devices: string[] }[] = [];
  readonly refused = new Set<string>();
  #gate: Promise<void> = Promise.resolve();
  #open: () => void = () => undefined;
  hold(): void {
    this.#gate = new Promise((resolve) => (this.#open = resolve));
  }
  open(): void {
    this.#open();
  }
  async #batch(method: string, items: readonly StateItem<unknown>[]): Promise<void> {
    await this.#gate;
    if (items.some((i) => this.refused.has(i.deviceId))) throw new Error('cannot store this');
    this.batches.push({ method, devices: items.map((i) => i.deviceId) });
    for (const i of items) this.calls.push({ method, deviceId: i.deviceId, body: i.body, meta: i.meta });
  }
  recordPresences = (items: readonly StateItem<unknown>[]) => this.#batch('presence', items);
  recordReports = (items: readonly StateItem<unknown>[]) => this.#batch('report', items);
  recordProgresses = (items: readonly StateItem<unknown>[]) => this.#batch('progress', items);
  recordCommandAcks = (items: readonly StateItem<unknown>[]) => this.#batch('ack', items);
}

class Lines {
  readonly lines: string[] = [];
  log = (m: string) => void this.lines.push(m);
  warn = (m: string) => void this.lines.push(m);
  error = (m: string) => void this.lines.push(m);
}

function anIngest(options: Partial<IngestOptions> = {}, sink = new RecordingSink()) {
  const registry = new MetricsRegistry();
  const metrics = new IngestMetrics(registry);
  const logger = new Lines();
  const ingest = new IngestService(sink, metrics, logger, {
    ...DEFAULT_INGEST_OPTIONS,
    recordRetryDelaysMs: [1, 1],
    ...options,
  });
  return { sink, metrics, logger, ingest, registry };
}

const live = { retained: false };
const device = '3f0c6a4e-1b2d-4c5e-8f90-a1b2c3d4e5f6';

describe('IngestService', () => {
  test('a valid report reaches the sink with the device id from the topic', async () => {
    const { ingest, sink, metrics } = anIngest();
    await ingest.handle(deviceTopics(device).report, payload('report', aReport()), live);
    await ingest.drain();
    expect(sink.calls).toHaveLength(1);
    expect(sink.calls[0]).toMatchObject({
      method: 'report',
      deviceId: device,
      body: { board: 'qemu-aarch64', failedRevisions: [] },
    });
    expect(metrics.received.get({ kind: 'report' })).toBe(1);
  });

  test.each([
    ['not JSON', Buffer.from('{nope')],
    [
      'a body that fails the schema',
      Buffer.from(
        JSON.stringify({
          v: 1,
          kind: 'report',
          id: randomUUID(),
          time: new Date().toISOString(),
          body: { board: 1 },
        }),
      ),
    ],
    ['a telemetry envelope on the report topic', payload('telemetry', { samples: [aSample()] })],
    [
      'an envelope with a top-level data key',
      Buffer.from(
        JSON.stringify({
          v: 1,
          kind: 'report',
          id: randomUUID(),
          time: new Date().toISOString(),
          body: aReport(),
          data: 1,
        }),
      ),
    ],
    [
      'an unknown envelope version',
      Buffer.from(
        JSON.stringify({
          v: 2,
          kind: 'report',
          id: randomUUID(),
          time: new Date().toISOString(),
          body: aReport(),
        }),
      ),
    ],
  ])('%s is counted, logged with the device id and dropped', async (_what, bytes) => {
    const { ingest, sink, metrics, logger } = anIngest();
    await ingest.handle(deviceTopics(device).report, bytes, live);
    await ingest.drain();
    expect(sink.calls).toEqual([]);
    expect(metrics.invalidMessages.get({ kind: 'report', reason: 'payload' })).toBe(1);
    expect(logger.lines).toHaveLength(1);
    expect(logger.lines[0]).toContain(device);
    expect(logger.lines[0]).toContain('invalid report');
  });

  test('messages on foreign topics, downlink topics or with empty payloads are counted, never stored', async () => {
    const { ingest, sink, metrics } = anIngest();
    await ingest.handle('some/other/topic', Buffer.from('x'), live);
    await ingest.handle(deviceTopics(device).target, payload('report', aReport()), live);
    await ingest.handle(deviceTopics(device).presence, Buffer.alloc(0), { retained: true });
    await ingest.drain();
    expect(sink.calls).toEqual([]);
    expect(metrics.invalidMessages.get({ kind: 'unknown', reason: 'topic' })).toBe(1);
    expect(metrics.invalidMessages.get({ kind: 'unknown', reason: 'kind' })).toBe(1);
    expect(metrics.invalidMessages.get({ kind: 'presence', reason: 'empty' })).toBe(1);
  });

  test('a redelivered message (same envelope id) is stored once', async () => {
    const { ingest, sink, metrics } = anIngest();
    const id = randomUUID();
    const bytes = payload(
      'progress',
      {
        updateId: 'u1',
        revision: { digest: `sha256:${'a'.repeat(64)}`, version: '1.0.0', sequence: 1 },
        state: 'downloading',
        status: 'downloading',
        percent: 10,
      },
      { id },
    );
    await ingest.handle(deviceTopics(device).progress, bytes, live);
    await ingest.handle(deviceTopics(device).progress, bytes, live);
    await ingest.drain();
    expect(sink.calls.map((c) => c.method)).toEqual(['progress']);
    expect(metrics.duplicates.get({ kind: 'progress' })).toBe(1);
  });

  test('a Last Will repeated with the same envelope id (a flapping device) is applied every time', async () => {
    const { ingest, sink } = anIngest();
    const will = payload('presence', { state: 'offline' }, { id: randomUUID() });
    // Drained after each: presences pending together are coalesced (latest wins), see below.
    for (let i = 0; i < 2; i++) {
      await ingest.handle(deviceTopics(device).presence, payload('presence', { state: 'online' }), live);
      await ingest.drain();
      await ingest.handle(deviceTopics(device).presence, will, live);
      await ingest.drain();
    }
    await ingest.drain();
    expect(sink.calls.map((c) => (c.body as { state: string }).state)).toEqual([
      'online',
      'offline',
      'online',
      'offline',
    ]);
  });

  test('presence: last seen is the hub clock when live, the device clock when retained', async () => {
    const { ingest, sink } = anIngest();
    const old = new Date('2026-01-01T00:00:00Z');
    await ingest.handle(
      deviceTopics(device).presence,
      payload('presence', { state: 'offline' }, { time: old }),
      { retained: true },
    );
    const before = Date.now();
    await ingest.handle(
      deviceTopics(device).presence,
      payload('presence', { state: 'online' }, { time: old }),
      live,
    );
    await ingest.drain();
    const [retained, fresh] = sink.calls;
    expect(retained?.meta.seenAt.toISOString()).toBe(old.toISOString());
    expect(retained?.meta.retained).toBe(true);
    expect(fresh?.meta.seenAt.getTime()).toBeGreaterThanOrEqual(before);
    expect(fresh?.body).toEqual({ state: 'online' });
  });

  test('telemetry samples and log lines are written in batches with their device id', async () => {
    const { ingest, sink, metrics, registry } = anIngest();
    for (let i = 0; i < 3; i++) {
      await ingest.handle(
        deviceTopics(device).telemetry,
        payload('telemetry', {
          samples: [
            aSample(new Date(Date.UTC(2026, 0, 1, 0, 0, i * 2)).toISOString()),
            aSample(new Date(Date.UTC(2026, 0, 1, 0, 0, i * 2 + 1)).toISOString()),
          ],
        }),
        live,
      );
    }
    await ingest.handle(
      deviceTopics(device).logs,
      payload('logs', {
        lines: [{ time: new Date().toISOString(), source: 'web', stream: 'stdout', text: 'hello' }],
      }),
      live,
    );
    await ingest.drain();
    expect(sink.telemetry).toHaveLength(6);
    expect(sink.telemetry.every((r) => r.deviceId === device)).toBe(true);
    expect(sink.logs).toEqual([expect.objectContaining({ deviceId: device, source: 'web', text: 'hello' })]);
    expect(metrics.rowsWritten.get({ kind: 'telemetry' })).toBe(6);
    expect(registry.render()).toContain('fleet_ingest_rows_written_total{kind="telemetry"} 6');
    expect(registry.render()).toContain('fleet_ingest_queue_depth{kind="telemetry"} 0');
  });

  test('telemetry, logs and state with room are queued synchronously: handle returns no promise', async () => {
    const { ingest, sink, metrics, registry } = anIngest();
    const at = new Date(Date.UTC(2026, 0, 1)).toISOString();
    expect(
      ingest.handle(deviceTopics(device).telemetry, payload('telemetry', { samples: [aSample(at)] }), live),
    ).toBeUndefined();
    expect(ingest.backlog.telemetry).toBe(1); // accepted into the bounded queue before returning
    const line = { time: at, source: 'web', stream: 'stdout' as const, text: 'hi' };
    expect(
      ingest.handle(deviceTopics(device).logs, payload('logs', { lines: [line] }), live),
    ).toBeUndefined();
    expect(ingest.backlog.logs).toBe(1);
    expect(ingest.handle(deviceTopics(device).report, payload('report', aReport()), live)).toBeUndefined();
    expect(ingest.backlog.records).toBe(1);
    await ingest.drain();
    expect(sink.telemetry).toHaveLength(1);
    expect(metrics.received.get({ kind: 'telemetry' })).toBe(1);
    expect(metrics.received.get({ kind: 'logs' })).toBe(1);
    expect(registry.render()).toContain('fleet_ingest_messages_total{kind="report"} 1');
  });

  test('telemetry the fast path does not take is decided by protocol: odd but valid stored, invalid refused', async () => {
    const { ingest, sink, metrics, logger } = anIngest();
    const envelope = (samples: unknown[]) =>
      Buffer.from(
        JSON.stringify({
          v: 1,
          kind: 'telemetry',
          id: randomUUID(),
          time: new Date().toISOString(),
          body: { samples },
        }),
      );
    // An offset time and a field this hub does not know (a newer agent): valid, the field stripped.
    const odd = { ...aSample('2026-01-01T01:00:00+01:00'), fanRpm: 1200 };
    await ingest.handle(deviceTopics(device).telemetry, envelope([odd]), live);
    await ingest.handle(deviceTopics(device).telemetry, envelope([{ ...aSample(), cpuPercent: -1 }]), live);
    await ingest.drain();
    expect(sink.telemetry).toEqual([{ deviceId: device, ...aSample('2026-01-01T01:00:00+01:00') }]);
    expect(metrics.invalidMessages.get({ kind: 'telemetry', reason: 'payload' })).toBe(1);
    expect(logger.lines).toHaveLength(1);
    expect(logger.lines[0]).toContain('invalid telemetry');
    expect(logger.lines[0]).toContain('cpuPercent');
  });

  test('a record the sink rejects is retried; after the last retry it is counted and dropped, and later messages still flow', async () => {
    const { ingest, sink, metrics, logger } = anIngest();
    sink.failures = 2;
    await ingest.handle(deviceTopics(device).ack, payload('ack', { commandId: 'c1', status: 'done' }), live);
    await ingest.drain();
    expect(sink.calls.map((c) => c.body)).toEqual([{ commandId: 'c1', status: 'done' }]);
    sink.failures = 3;
    await ingest.handle(deviceTopics(device).ack, payload('ack', { commandId: 'c2', status: 'done' }), live);
    await ingest.handle(
      deviceTopics(device).ack,
      payload('ack', { commandId: 'c3', status: 'failed' }),
      live,
    );
    await ingest.drain();
    expect(sink.calls.map((c) => (c.body as { commandId: string }).commandId)).toEqual(['c1', 'c3']);
    expect(metrics.sinkErrors.get({ kind: 'ack' })).toBe(1);
    expect(logger.lines.some((l) => l.includes(device) && l.includes('dropped ack'))).toBe(true);
  });

  test('a device flooding invalid messages gets one log line per interval; every message is counted', async () => {
    const { ingest, metrics, logger } = anIngest();
    for (let i = 0; i < 50; i++)
      await ingest.handle(deviceTopics(device).report, Buffer.from('garbage'), live);
    expect(metrics.invalidMessages.get({ kind: 'report', reason: 'payload' })).toBe(50);
    expect(logger.lines).toHaveLength(1);
  });

  test('attach subscribes to every uplink kind, shared or plain', async () => {
    for (const shared of [true, false]) {
      const { ingest } = anIngest();
      const subscribed: string[] = [];
      let listener: MqttMessageListener | undefined;
      await ingest.attach(
        {
          subscribe: async (f) => void subscribed.push(...f),
          unsubscribe: async () => undefined,
          addListener: (l) => {
            listener = l;
            return () => (listener = undefined);
          },
        },
        { shared },
      );
      const kinds = ['presence', 'report', 'progress', 'telemetry', 'logs', 'ack'] as const;
      expect(subscribed).toEqual(kinds.map((k) => (shared ? sharedFilter('hub', k) : allDevicesFilter(k))));
      expect(listener).toBeDefined();
      await ingest.close();
      expect(listener).toBeUndefined();
    }
  });

  describe('state messages (presence, report, progress, ack)', () => {
    const devices = Array.from({ length: 5 }, (_, i) => `3f0c6a4e-1b2d-4c5e-8f90-a1b2c3d4e5f${i}`);
    const sample = (i: number) =>
      payload('telemetry', { samples: [aSample(new Date(Date.UTC(2026, 0, 1, 0, 0, i)).toISOString())] });

    test('many devices’ reports and presences are stored with one batch call per kind', async () => {
      const sink = new BatchSink();
      const { ingest } = anIngest({ state: { ...DEFAULT_INGEST_OPTIONS.state, writers: 1 } }, sink);
      sink.hold(); // the first message's batch waits: the others gather behind it
      for (const d of devices)
        await ingest.handle(deviceTopics(d).report, payload('report', aReport()), live);
      for (const d of devices)
        await ingest.handle(deviceTopics(d).presence, payload('presence', { state: 'online' }), live);
      sink.open();
      await ingest.drain();
      // The second batch holds the first device's presence (its report is stored) and the
      // others' reports; their presences follow in the third.
      expect(sink.batches).toEqual([
        { method: 'report', devices: [devices[0]] },
        { method: 'presence', devices: [devices[0]] },
        { method: 'report', devices: devices.slice(1) },
        { method: 'presence', devices: devices.slice(1) },
      ]);
    });

    test('telemetry is not held while state writes wait on the database', async () => {
      const sink = new BatchSink();
      const { ingest } = anIngest({}, sink);
      sink.hold();
      for (const d of devices)
        await ingest.handle(deviceTopics(d).report, payload('report', aReport()), live);
      // Every handle returned although no report is stored yet: the session keeps reading.
      for (let i = 0; i < 3; i++) await ingest.handle(deviceTopics(device).telemetry, sample(i), live);
      expect(sink.calls).toEqual([]);
      expect(ingest.backlog).toMatchObject({ telemetry: 3, records: 5 });
      sink.open();
      await ingest.drain();
      expect(sink.telemetry).toHaveLength(3);
      expect(sink.calls).toHaveLength(5);
    });

    test('when the state map is full the listener waits (holding the session) until a batch is taken', async () => {
      const sink = new BatchSink();
      const { ingest } = anIngest(
        { state: { ...DEFAULT_INGEST_OPTIONS.state, capacity: 2, writers: 1 } },
        sink,
      );
      sink.hold();
      const topic = (i: number) => deviceTopics(devices[i]!).report;
      await ingest.handle(topic(0), payload('report', aReport()), live); // taken by the writer at once
      await ingest.handle(topic(1), payload('report', aReport()), live);
      await ingest.handle(topic(2), payload('report', aReport()), live);
      let admitted = false;
      const held = ingest.handle(topic(3), payload('report', aReport()), live);
      // Only a message that has to wait returns a promise (the MQTT client holds its PUBACK).
      expect(held).toBeInstanceOf(Promise);
      const fourth = held!.then(() => (admitted = true));
      await new Promise((resolve) => setTimeout(resolve, 10));
      expect(admitted).toBe(false);
      sink.open();
      await fourth;
      await ingest.drain();
      expect(sink.calls.map((c) => c.deviceId).sort()).toEqual(devices.slice(0, 4).sort());
    });

    test('a device’s pending reports with the same containers are coalesced: the latest is stored', async () => {
      const sink = new BatchSink();
      const { ingest, metrics } = anIngest({}, sink);
      sink.hold();
      const t = (s: number) => new Date(Date.now() - 10_000 + s * 1000);
      for (const [state, s] of [
        ['idle', 1],
        ['downloading', 2],
        ['installing', 3],
      ] as const)
        await ingest.handle(
          deviceTopics(device).report,
          payload('report', aReport({ updateState: state }), { time: t(s) }),
          live,
        );
      // An older one (by envelope time) than the one pending is dropped.
      await ingest.handle(
        deviceTopics(device).report,
        payload('report', aReport({ updateState: 'verifying' }), { time: t(0) }),
        live,
      );
      sink.open();
      await ingest.drain();
      expect(sink.calls.map((c) => (c.body as { updateState: string }).updateState)).toEqual([
        'idle', // was being written when the others came
        'installing',
      ]);
      expect(metrics.coalesced.get({ kind: 'report' })).toBe(2);
    });

    test('progress stays in order with the device’s reports and is never coalesced', async () => {
      const sink = new BatchSink();
      const { ingest } = anIngest({}, sink);
      sink.hold();
      const progress = (percent: number) =>
        payload('progress', {
          updateId: 'u1',
          revision: { digest: `sha256:${'a'.repeat(64)}`, version: '1.0.0', sequence: 1 },
          state: 'downloading',
          status: 'downloading',
          percent,
        });
      await ingest.handle(deviceTopics(device).report, payload('report', aReport()), live);
      await ingest.handle(deviceTopics(device).progress, progress(10), live);
      await ingest.handle(deviceTopics(device).progress, progress(20), live);
      await ingest.handle(deviceTopics(device).report, payload('report', aReport()), live);
      sink.open();
      await ingest.drain();
      expect(sink.calls.map((c) => `${c.method}${(c.body as { percent?: number }).percent ?? ''}`)).toEqual([
        'report',
        'progress10',
        'progress20',
        'report',
      ]);
    });

    test('progress and acks of many devices are stored with one batch call per kind, each device’s in order', async () => {
      const sink = new BatchSink();
      const { ingest } = anIngest({ state: { ...DEFAULT_INGEST_OPTIONS.state, writers: 1 } }, sink);
      const progress = (percent: number) =>
        payload('progress', {
          updateId: 'u1',
          revision: { digest: `sha256:${'a'.repeat(64)}`, version: '1.0.0', sequence: 1 },
          state: 'downloading',
          status: 'downloading',
          percent,
        });
      sink.hold();
      for (const percent of [10, 20])
        for (const d of devices) await ingest.handle(deviceTopics(d).progress, progress(percent), live);
      for (const d of devices)
        await ingest.handle(
          deviceTopics(d).ack,
          payload('ack', { commandId: `c-${d}`, status: 'done' }),
          live,
        );
      sink.open();
      await ingest.drain();
      // The first device's first progress was being written when the others came; a device's
      // next message joins the batch after its previous one's.
      const rest = devices.slice(1);
      expect(sink.batches).toEqual([
        { method: 'progress', devices: [devices[0]] },
        { method: 'progress', devices: [...rest, devices[0]] },
        { method: 'progress', devices: rest },
        { method: 'ack', devices: [devices[0]] },
        { method: 'ack', devices: rest },
      ]);
      for (const d of devices)
        expect(
          sink.calls
            .filter((c) => c.deviceId === d)
            .map((c) => `${c.method}${(c.body as { percent?: number }).percent ?? ''}`),
        ).toEqual(['progress10', 'progress20', 'ack']);
    });

    test('a progress batch the sink refuses is split: the others are stored, the bad one is counted and dropped', async () => {
      const sink = new BatchSink();
      const { ingest, metrics, logger } = anIngest({}, sink);
      sink.refused.add(devices[3]!);
      sink.hold();
      for (const d of devices)
        await ingest.handle(
          deviceTopics(d).progress,
          payload('progress', {
            updateId: 'u1',
            revision: { digest: `sha256:${'a'.repeat(64)}`, version: '1.0.0', sequence: 1 },
            state: 'installing',
            status: 'installing',
            percent: 100,
          }),
          live,
        );
      sink.open();
      await ingest.drain();
      expect(sink.calls.map((c) => c.deviceId).sort()).toEqual(
        devices.filter((d) => d !== devices[3]).sort(),
      );
      expect(metrics.sinkErrors.get({ kind: 'progress' })).toBe(1);
      expect(logger.lines).toEqual([
        expect.stringMatching(new RegExp(`dropped progress from device ${devices[3]}.*cannot store this`)),
      ]);
    });

    test('a batch the sink refuses is retried, then split: the others are stored, the one that fails alone is dropped and logged', async () => {
      const sink = new BatchSink();
      const { ingest, metrics, logger } = anIngest({}, sink);
      sink.refused.add(devices[2]!);
      sink.hold();
      for (const d of devices)
        await ingest.handle(deviceTopics(d).report, payload('report', aReport()), live);
      sink.open();
      await ingest.drain();
      expect(sink.calls.map((c) => c.deviceId).sort()).toEqual(
        devices.filter((d) => d !== devices[2]).sort(),
      );
      expect(metrics.sinkErrors.get({ kind: 'report' })).toBe(1);
      expect(logger.lines).toEqual([
        expect.stringMatching(new RegExp(`dropped report from device ${devices[2]}.*cannot store this`)),
      ]);
    });

    test('a batch that fails for a moment (database away) is retried whole and stored', async () => {
      const sink = new BatchSink();
      const { ingest, metrics } = anIngest({}, sink);
      let failures = 2;
      const store = sink.recordReports;
      sink.recordReports = (items) =>
        failures-- > 0 ? Promise.reject(new Error('database away')) : store(items);
      for (const d of devices)
        await ingest.handle(deviceTopics(d).report, payload('report', aReport()), live);
      await ingest.drain();
      expect(sink.calls).toHaveLength(5);
      expect(metrics.sinkErrors.get({ kind: 'report' })).toBe(0);
    });

    test('close stores every state message already received', async () => {
      const sink = new BatchSink();
      const { ingest } = anIngest({}, sink);
      sink.hold();
      for (const d of devices)
        await ingest.handle(deviceTopics(d).report, payload('report', aReport()), live);
      const closed = ingest.close();
      sink.open();
      await closed;
      expect(sink.calls).toHaveLength(5);
    });
  });
});

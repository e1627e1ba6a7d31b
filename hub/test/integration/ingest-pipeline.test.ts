import { randomBytes, randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { deviceTopics, type CommandAck, type Presence, type Progress, type Report } from '@fleet/protocol';
import { brokerUsernameFor } from '../../src/devices/broker-authority.js';
import { IngestMetrics } from '../../src/ingest/ingest-metrics.js';
import type { IngestSink, LogRow, MessageMeta, TelemetryRow } from '../../src/ingest/ingest-sink.js';
import { DEFAULT_INGEST_OPTIONS, IngestService } from '../../src/ingest/ingest.service.js';
import { MetricsRegistry } from '../../src/metrics/metrics.registry.js';
import {
  startAedesUnderTest,
  startMosquittoUnderTest,
  RecordingLogger,
  type BrokerUnderTest,
} from './helpers/mosquitto-brokers.js';
import { connectRaw, publishOutcome, type DeviceSession } from './helpers/mosquitto-clients.js';
import { aProgress, aReport, aSample, wire } from './helpers/mosquitto-device-messages.js';

/**
 * TEST FAKE of the hub-core services (the real sink writes Postgres): it records what ingest
 * delivers so the test can check the pipeline from a real device publish, through a real
 * broker and the hub's real MQTT session, to the sink.
 */
class RecordingSink implements IngestSink {
  readonly presence: { deviceId: string; presence: Presence; meta: MessageMeta }[] = [];
  readonly reports: { deviceId: string; report: Report }[] = [];
  readonly progress: { deviceId: string; progress: Progress }[] = [];
  readonly acks: { deviceId: string; ack: CommandAck }[] = [];
  readonly telemetry: TelemetryRow[] = [];
  readonly logs: LogRow[] = [];
  readonly batches: number[] = [];
  async recordPresence(deviceId: string, presence: Presence, meta: MessageMeta) {
    this.presence.push({ deviceId, presence, meta });
  }
  async recordReport(deviceId: string, report: Report) {
    this.reports.push({ deviceId, report });
  }
  async recordProgress(deviceId: string, progress: Progress) {
    this.progress.push({ deviceId, progress });
  }
  async recordCommandAck(deviceId: string, ack: CommandAck) {
    this.acks.push({ deviceId, ack });
  }
  async insertTelemetry(rows: readonly TelemetryRow[]) {
    this.batches.push(rows.length);
    this.telemetry.push(...rows);
  }
  async insertLogs(rows: readonly LogRow[]) {
    this.logs.push(...rows);
  }
}

/** Polls a condition the pipeline makes true asynchronously (bounded; no assertion on time). */
async function until(what: string, condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

describe.each([
  { name: 'mosquitto (shared subscription)', start: startMosquittoUnderTest },
  { name: 'embedded aedes (plain subscription)', start: startAedesUnderTest },
])('ingest pipeline on $name', ({ start }) => {
  let broker: BrokerUnderTest;
  let ingest: IngestService;
  let registry: MetricsRegistry;
  let metrics: IngestMetrics;
  const sink = new RecordingSink();
  const logger = new RecordingLogger();

  beforeAll(async () => {
    broker = await start();
    registry = new MetricsRegistry();
    metrics = new IngestMetrics(registry);
    ingest = new IngestService(sink, metrics, logger, {
      ...DEFAULT_INGEST_OPTIONS,
      telemetry: { ...DEFAULT_INGEST_OPTIONS.telemetry, maxBatch: 50, flushIntervalMs: 50 },
    });
    const hub = await broker.connectHub();
    await ingest.attach(hub, { shared: broker.kind === 'mosquitto' });
  });
  afterAll(async () => {
    await ingest?.close();
    await broker?.stop();
  });

  async function aDevice(will?: Buffer): Promise<{ id: string; session: DeviceSession }> {
    const id = randomUUID();
    const password = randomBytes(16).toString('hex');
    await broker.authority.upsertDevice(id, brokerUsernameFor(id), password);
    const session = await connectRaw(broker.url, {
      protocolVersion: broker.protocolVersion,
      username: brokerUsernameFor(id),
      password,
      clientId: id,
      ...(will ? { will: { topic: deviceTopics(id).presence, payload: will, qos: 1, retain: true } } : {}),
    });
    return { id, session };
  }

  test('report, progress and ack reach the sink in order, with the device id from the topic', async () => {
    const { id, session } = await aDevice();
    for (let i = 1; i <= 5; i++) {
      expect(
        await publishOutcome(
          session,
          deviceTopics(id).progress,
          wire('progress', aProgress({ percent: i * 20 })).toString(),
        ),
      ).toEqual({ kind: 'acked' });
    }
    await publishOutcome(
      session,
      deviceTopics(id).report,
      wire('report', aReport({ updateState: 'testing' })).toString(),
    );
    await publishOutcome(
      session,
      deviceTopics(id).ack,
      wire('ack', { commandId: 'c-1', status: 'done' }).toString(),
    );
    await until('ack', () => sink.acks.some((a) => a.deviceId === id));
    await until('report', () => sink.reports.some((r) => r.deviceId === id));
    expect(sink.progress.filter((p) => p.deviceId === id).map((p) => p.progress.percent)).toEqual([
      20, 40, 60, 80, 100,
    ]);
    expect(sink.reports.find((r) => r.deviceId === id)?.report.updateState).toBe('testing');
    session.client.end(true);
  });

  test('invalid payloads are counted, logged with the device id and dropped; the hub keeps ingesting', async () => {
    const { id, session } = await aDevice();
    const before = metrics.invalidMessages.get({ kind: 'report', reason: 'payload' });
    await publishOutcome(session, deviceTopics(id).report, '{"v":1,"kind":"report"');
    await publishOutcome(
      session,
      deviceTopics(id).report,
      JSON.stringify({
        v: 1,
        kind: 'report',
        id: randomUUID(),
        time: new Date().toISOString(),
        body: { board: 7 },
      }),
    );
    await publishOutcome(
      session,
      deviceTopics(id).report,
      wire('telemetry', { samples: [aSample(new Date())] }).toString(),
    );
    const good = wire('report', aReport({ board: 'after-garbage' }));
    await publishOutcome(session, deviceTopics(id).report, good.toString());
    await until('the valid report after the garbage', () => sink.reports.some((r) => r.deviceId === id));
    expect(sink.reports.filter((r) => r.deviceId === id).map((r) => r.report.board)).toEqual([
      'after-garbage',
    ]);
    expect(metrics.invalidMessages.get({ kind: 'report', reason: 'payload' }) - before).toBe(3);
    expect(logger.lines.some((l) => l.includes(id) && l.includes('invalid report'))).toBe(true);
    expect(registry.render()).toMatch(
      /fleet_ingest_invalid_messages_total\{kind="report",reason="payload"\} \d+/,
    );
    session.client.end(true);
  });

  test('presence: online when published, offline from the Last Will when the connection drops', async () => {
    const will = wire('presence', { state: 'offline' });
    const { id, session } = await aDevice(will);
    await publishOutcome(
      session,
      deviceTopics(id).presence,
      wire('presence', { state: 'online', agentVersion: '1.0.0' }).toString(),
      true,
    );
    await until('online', () =>
      sink.presence.some((p) => p.deviceId === id && p.presence.state === 'online'),
    );
    session.client.stream.destroy(); // no DISCONNECT: the broker must publish the will
    await until('offline from the will', () =>
      sink.presence.some((p) => p.deviceId === id && p.presence.state === 'offline'),
    );
    const states = sink.presence.filter((p) => p.deviceId === id).map((p) => p.presence.state);
    expect(states).toEqual(['online', 'offline']);
  });

  test('telemetry from many devices is written in batches, every sample once', async () => {
    const devices = await Promise.all(Array.from({ length: 5 }, () => aDevice()));
    const t0 = Date.UTC(2026, 10, 30, 12, 0, 0);
    for (const [n, d] of devices.entries()) {
      for (let m = 0; m < 20; m++) {
        const samples = [0, 1, 2].map((k) => aSample(new Date(t0 + (m * 3 + k) * 1000), { cpuPercent: n }));
        expect(
          await publishOutcome(
            d.session,
            deviceTopics(d.id).telemetry,
            wire('telemetry', { samples }).toString(),
          ),
        ).toEqual({ kind: 'acked' });
      }
      await publishOutcome(
        d.session,
        deviceTopics(d.id).logs,
        wire('logs', {
          lines: [
            { time: new Date().toISOString(), source: 'web', stream: 'stdout', text: `hello from ${n}` },
          ],
        }).toString(),
      );
    }
    const ids = new Set(devices.map((d) => d.id));
    await until('all samples', () => sink.telemetry.filter((r) => ids.has(r.deviceId)).length === 5 * 20 * 3);
    await until('all log lines', () => sink.logs.filter((r) => ids.has(r.deviceId)).length === 5);
    for (const d of devices) {
      const mine = sink.telemetry.filter((r) => r.deviceId === d.id);
      expect(new Set(mine.map((r) => r.time)).size).toBe(60);
      d.session.client.end(true);
    }
    expect(Math.max(...sink.batches)).toBeGreaterThan(1); // batched, not row by row
    expect(Math.max(...sink.batches)).toBeLessThanOrEqual(50);
  });

  test("a message forged on another device's topic never reaches the sink", async () => {
    const a = await aDevice();
    const b = await aDevice();
    const outcome = await publishOutcome(
      a.session,
      deviceTopics(b.id).report,
      wire('report', aReport({ board: 'forged' })).toString(),
    );
    expect(outcome.kind).not.toBe('acked');
    await publishOutcome(
      b.session,
      deviceTopics(b.id).report,
      wire('report', aReport({ board: 'genuine' })).toString(),
    );
    await until("B's own report", () => sink.reports.some((r) => r.deviceId === b.id));
    expect(sink.reports.filter((r) => r.report.board === 'forged')).toEqual([]);
    a.session.client.end(true);
    b.session.client.end(true);
  });
});

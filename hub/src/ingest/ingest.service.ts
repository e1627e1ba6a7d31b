import { setMaxListeners } from 'node:events';
import {
  allDevicesFilter,
  decodeMessage,
  parseTopic,
  sharedFilter,
  UPLINK_KINDS,
  type Envelope,
  type MessageBody,
  type UplinkKind,
} from '@fleet/protocol';
import type { MqttLogger, MqttMessageListener, MqttMessageMeta } from '../mqtt/hub-mqtt-client.js';
import { HUB_SHARE_GROUP } from '../mqtt/mosquitto-authority.js';
import { BoundedBatchQueue } from './bounded-batch-queue.js';
import type { IngestMetrics } from './ingest-metrics.js';
import type { IngestSink, LogRow, MessageMeta, TelemetryRow } from './ingest-sink.js';
import { KeyedSerialExecutor } from './keyed-serial-executor.js';
import { RecentIds } from './recent-ids.js';

export interface BatchSettings {
  capacity: number;
  maxBatch: number;
  flushIntervalMs: number;
  retryDelayMs: number;
  /** Batches written concurrently (only where row order does not matter). */
  writers: number;
}

export interface IngestOptions {
  telemetry: BatchSettings;
  logs: BatchSettings;
  /** Presence/report/progress/ack handled at once (per device always one at a time). */
  maxInFlight: number;
  /** Delays between retries of a record the sink rejected; then it is dropped. */
  recordRetryDelaysMs: readonly number[];
  /** How many recent envelope ids are remembered to drop redeliveries. */
  recentIds: number;
  /** At most one "invalid message" log line per device in this period (the counter counts all). */
  invalidLogIntervalMs: number;
}

export const DEFAULT_INGEST_OPTIONS: IngestOptions = {
  // 100k samples ≈ 10k devices × 10 samples: minutes of a database outage at common intervals.
  // Telemetry rows are keyed by (device, time): two writers let Postgres use a second core.
  telemetry: { capacity: 100_000, maxBatch: 1_000, flushIntervalMs: 250, retryDelayMs: 1_000, writers: 2 },
  // Log lines get their ids in arrival order: one writer keeps a device's lines in sequence.
  logs: { capacity: 200_000, maxBatch: 2_000, flushIntervalMs: 500, retryDelayMs: 1_000, writers: 1 },
  // At most as many as the hub's Prisma pool has connections (PrismaPg: pg's default of 10),
  // less two for the API and the rollout engine. More only queue inside Prisma, where an
  // interactive transaction (a report) fails after waiting 2 s for a connection: with 64, 10k
  // devices connecting at once on a busy machine lost reports that way (docs/scale.md). Beyond
  // this, admission waits and the MQTT session stops reading: the backpressure of decision 0051.
  maxInFlight: 8,
  recordRetryDelaysMs: [100, 1_000, 5_000],
  recentIds: 50_000,
  invalidLogIntervalMs: 60_000,
};

/** What ingest needs from the hub's MQTT session. */
export interface IngestSession {
  subscribe(filters: readonly string[]): Promise<void>;
  unsubscribe(filters: readonly string[]): Promise<void>;
  addListener(listener: MqttMessageListener): () => void;
}

/** The hub's subscriptions for every uplink kind: shared between replicas when the broker can. */
export function ingestFilters(shared: boolean): string[] {
  return UPLINK_KINDS.map((kind) => (shared ? sharedFilter(HUB_SHARE_GROUP, kind) : allDevicesFilter(kind)));
}

/**
 * Device → hub messages: topic checked, payload decoded and validated by protocol, then handed
 * to the sink. Nothing a device sends can throw out of here: invalid messages are counted,
 * logged with the device id (rate-limited per device) and dropped.
 */
export class IngestService {
  readonly #sink: IngestSink;
  readonly #metrics: IngestMetrics;
  readonly #logger: MqttLogger;
  readonly #options: IngestOptions;
  readonly #executor: KeyedSerialExecutor;
  readonly #recent: RecentIds;
  readonly #telemetry: BoundedBatchQueue<TelemetryRow>;
  readonly #logs: BoundedBatchQueue<LogRow>;
  readonly #lastInvalidLog = new Map<string, { at: number; suppressed: number }>();
  readonly #closing = abortController(); // one listener per record waiting to retry
  #detach: (() => void) | undefined;
  #filters: string[] = [];
  #session: IngestSession | undefined;

  constructor(
    sink: IngestSink,
    metrics: IngestMetrics,
    logger: MqttLogger,
    options: IngestOptions = DEFAULT_INGEST_OPTIONS,
  ) {
    this.#sink = sink;
    this.#metrics = metrics;
    this.#logger = logger;
    this.#options = options;
    this.#executor = new KeyedSerialExecutor(options.maxInFlight);
    this.#recent = new RecentIds(options.recentIds);
    this.#telemetry = this.#queue('telemetry', options.telemetry, (rows) => sink.insertTelemetry(rows));
    this.#logs = this.#queue('logs', options.logs, (rows) => sink.insertLogs(rows));
    metrics.queueDepth(() => [
      [{ kind: 'telemetry' }, this.#telemetry.length],
      [{ kind: 'logs' }, this.#logs.length],
    ]);
  }

  #queue<T>(
    kind: 'telemetry' | 'logs',
    settings: BatchSettings,
    write: (rows: T[]) => Promise<void>,
  ): BoundedBatchQueue<T> {
    const queue = new BoundedBatchQueue<T>({
      ...settings,
      write,
      onWritten: (n) => this.#metrics.rowsWritten.inc({ kind }, n),
      onDropped: (n) => this.#metrics.rowsDropped.inc({ kind }, n),
      onWriteError: (error, n) => {
        this.#metrics.writeFailures.inc({ kind });
        this.#logger.warn(
          `ingest: writing ${n} ${kind} rows failed, will retry: ${(error as Error).message}`,
        );
      },
    });
    return queue;
  }

  /** Listens on the session and subscribes to every uplink kind. */
  async attach(session: IngestSession, options: { shared: boolean }): Promise<void> {
    if (this.#session !== undefined) throw new Error('ingest is already attached to a session');
    this.#session = session;
    this.#detach = session.addListener((topic, payload, meta) => this.handle(topic, payload, meta));
    this.#filters = ingestFilters(options.shared);
    await session.subscribe(this.#filters);
  }

  /**
   * Handles one message. Resolves when the message is queued or admitted: while `maxInFlight`
   * records are being stored, it waits, which holds the MQTT session (backpressure).
   */
  async handle(topic: string, payload: Buffer, meta: MqttMessageMeta): Promise<void> {
    const receivedAt = new Date();
    const parsed = parseTopic(topic);
    if (!parsed.ok) {
      this.#metrics.invalid('unknown', 'topic');
      this.#reportInvalid('?', `ignored message on unexpected topic: ${parsed.error.message}`);
      return;
    }
    const { deviceId, kind } = parsed.value;
    if (!isUplink(kind)) {
      this.#metrics.invalid('unknown', 'kind');
      this.#reportInvalid(deviceId, `ignored ${kind} message: not a device → hub kind`);
      return;
    }
    if (payload.length === 0) {
      // An empty retained payload is how a retained message is cleared: nothing to ingest.
      this.#metrics.invalid(kind, 'empty');
      return;
    }
    this.#metrics.received.inc({ kind });
    const decoded = decodeMessage(kind, payload);
    if (!decoded.ok) {
      this.#metrics.invalid(kind, 'payload');
      this.#reportInvalid(deviceId, `dropped invalid ${kind}: ${decoded.error.message.slice(0, 1000)}`);
      return;
    }
    // Only events are de-duplicated. Presence and reports are state and may repeat an id on
    // purpose: a Last Will is fixed at CONNECT and mqtt.js reuses it on every reconnect, so the
    // second "offline" of a flapping device carries the first one's id.
    if (DEDUPLICATED.has(kind) && this.#recent.seen(`${deviceId}/${decoded.value.id}`)) {
      this.#metrics.duplicates.inc({ kind });
      return;
    }
    await this.#route(deviceId, decoded.value, { receivedAt, retained: meta.retained });
  }

  async #route(
    deviceId: string,
    envelope: Envelope<UplinkKind, MessageBody<UplinkKind>>,
    at: { receivedAt: Date; retained: boolean },
  ): Promise<void> {
    const sentAt = new Date(envelope.time);
    const meta: MessageMeta = {
      messageId: envelope.id,
      sentAt,
      receivedAt: at.receivedAt,
      retained: at.retained,
      seenAt: at.retained ? sentAt : at.receivedAt,
    };
    const body = envelope.body;
    switch (envelope.kind) {
      case 'telemetry':
        for (const sample of (body as MessageBody<'telemetry'>).samples)
          this.#telemetry.push({ deviceId, ...sample });
        return;
      case 'logs':
        for (const line of (body as MessageBody<'logs'>).lines) this.#logs.push({ deviceId, ...line });
        return;
      case 'presence':
        return this.#record('presence', deviceId, () =>
          this.#sink.recordPresence(deviceId, body as MessageBody<'presence'>, meta),
        );
      case 'report':
        return this.#record('report', deviceId, () =>
          this.#sink.recordReport(deviceId, body as MessageBody<'report'>, meta),
        );
      case 'progress':
        return this.#record('progress', deviceId, () =>
          this.#sink.recordProgress(deviceId, body as MessageBody<'progress'>, meta),
        );
      case 'ack':
        return this.#record('ack', deviceId, () =>
          this.#sink.recordCommandAck(deviceId, body as MessageBody<'ack'>, meta),
        );
    }
  }

  #record(kind: UplinkKind, deviceId: string, store: () => Promise<void>): Promise<void> {
    return this.#executor.submit(deviceId, async () => {
      const delays = this.#options.recordRetryDelaysMs;
      for (let attempt = 0; ; attempt++) {
        try {
          await store();
          return;
        } catch (error) {
          const delay = delays[attempt];
          if (delay === undefined || this.#closing.signal.aborted) {
            this.#metrics.sinkErrors.inc({ kind });
            this.#logger.error(
              `ingest: dropped ${kind} from device ${deviceId} after ${attempt + 1} attempt(s): ${(error as Error).message}`,
            );
            return;
          }
          await sleep(delay, this.#closing.signal);
        }
      }
    });
  }

  #reportInvalid(deviceId: string, message: string): void {
    const now = Date.now();
    const last = this.#lastInvalidLog.get(deviceId);
    if (last !== undefined && now - last.at < this.#options.invalidLogIntervalMs) {
      last.suppressed++;
      return;
    }
    const suppressed = last?.suppressed ?? 0;
    this.#lastInvalidLog.delete(deviceId);
    this.#lastInvalidLog.set(deviceId, { at: now, suppressed: 0 });
    // Bounded: a flood of device ids cannot grow the map without end.
    if (this.#lastInvalidLog.size > 10_000) {
      const oldest = this.#lastInvalidLog.keys().next().value;
      if (oldest !== undefined) this.#lastInvalidLog.delete(oldest);
    }
    this.#logger.warn(
      `ingest: device ${deviceId}: ${message}${suppressed > 0 ? ` (${suppressed} more suppressed)` : ''}`,
    );
  }

  /** Rows waiting in the telemetry and log queues (for readiness and tests). */
  get backlog(): { telemetry: number; logs: number; records: number } {
    return { telemetry: this.#telemetry.length, logs: this.#logs.length, records: this.#executor.inFlight };
  }

  /** Writes what is queued now and waits for records in flight (tests, shutdown). */
  async drain(): Promise<void> {
    await this.#executor.idle();
    await Promise.all([this.#telemetry.flush(), this.#logs.flush()]);
  }

  /** Stops listening, then stores everything already received. */
  async close(): Promise<void> {
    this.#detach?.();
    this.#detach = undefined;
    if (this.#session !== undefined) await this.#session.unsubscribe(this.#filters).catch(() => undefined);
    await this.#executor.idle();
    this.#closing.abort();
    await Promise.all([this.#telemetry.close(), this.#logs.close()]);
  }
}

const DEDUPLICATED: ReadonlySet<UplinkKind> = new Set(['progress', 'ack', 'telemetry', 'logs']);

function isUplink(kind: string): kind is UplinkKind {
  return (UPLINK_KINDS as readonly string[]).includes(kind);
}

/** A controller whose signal takes any number of listeners (no MaxListenersExceededWarning). */
function abortController(): AbortController {
  const controller = new AbortController();
  setMaxListeners(0, controller.signal);
  return controller;
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    }
    signal.addEventListener('abort', done, { once: true });
  });
}

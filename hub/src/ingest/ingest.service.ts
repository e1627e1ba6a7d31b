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
import type { IngestSink, LogRow, MessageMeta, StateItem, TelemetryRow } from './ingest-sink.js';
import { RecentIds } from './recent-ids.js';
import { StateBatcher } from './state-batcher.js';
import { decodeTelemetryFast } from './telemetry-fast-decode.js';
import { mergeState, type StateOp } from './state-ops.js';

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
  /** Presence/report/progress/ack: how they are batched (decision 0035). */
  state: StateSettings;
  /**
   * Delays between retries of a state batch (or a progress/ack) the sink rejected. Then a batch
   * is split in halves until the message that fails alone is found; that one is dropped.
   */
  recordRetryDelaysMs: readonly number[];
  /** How many recent envelope ids are remembered to drop redeliveries. */
  recentIds: number;
  /** At most one "invalid message" log line per device in this period (the counter counts all). */
  invalidLogIntervalMs: number;
}

export interface StateSettings {
  /**
   * Pending state messages (after coalescing) before the MQTT listener waits, holding the
   * session: the backpressure of decision 0051, now only when the database is far behind.
   */
  capacity: number;
  /** Devices per batch (one message each). */
  maxBatch: number;
  /** Batches written at once; each uses one database connection at a time. */
  writers: number;
  /**
   * Progress/ack messages of one batch stored at once (one transaction each) when the sink has
   * no batch forms for them (ServicesIngestSink has: one transaction per kind and batch).
   */
  eventConcurrency: number;
}

export const DEFAULT_INGEST_OPTIONS: IngestOptions = {
  // 100k samples ≈ 10k devices × 10 samples: minutes of a database outage at common intervals.
  // Telemetry rows are keyed by (device, time): two writers let Postgres use a second core.
  telemetry: { capacity: 100_000, maxBatch: 1_000, flushIntervalMs: 250, retryDelayMs: 1_000, writers: 2 },
  // Log lines get their ids in arrival order: one writer keeps a device's lines in sequence.
  logs: { capacity: 200_000, maxBatch: 2_000, flushIntervalMs: 500, retryDelayMs: 1_000, writers: 1 },
  // 20k pending messages: two per device of a 10k fleet (a report and a presence) before the
  // session is held. Writers × eventConcurrency (6; 2 with the batch forms, decision 0092)
  // stays below the Prisma pool (10), leaving connections to the API and the rollout engine
  // (decision 0034's reason still holds: a transaction waiting more than 2 s for a connection
  // fails). Batches form by themselves: while the writers are busy, messages gather; an idle
  // hub writes each at once.
  state: { capacity: 20_000, maxBatch: 500, writers: 2, eventConcurrency: 3 },
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
  readonly #state: StateBatcher<StateOp>;
  #writers = 0;
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
    this.#state = new StateBatcher<StateOp>({ capacity: options.state.capacity, merge: mergeState });
    this.#state.onReady(() => this.#startWriters());
    this.#recent = new RecentIds(options.recentIds);
    this.#telemetry = this.#queue('telemetry', options.telemetry, (rows) => sink.insertTelemetry(rows));
    this.#logs = this.#queue('logs', options.logs, (rows) => sink.insertLogs(rows));
    metrics.queueDepth(() => [
      [{ kind: 'telemetry' }, this.#telemetry.length],
      [{ kind: 'logs' }, this.#logs.length],
      [{ kind: 'state' }, this.#state.pending],
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
   * Handles one message. Returns nothing when the message is queued at once (telemetry, logs,
   * and state messages while the state map has room): the MQTT client then acknowledges it
   * without a promise of its own. Only while the state map is full (`state.capacity`) does it
   * return a promise, resolved when the message is queued, which holds the MQTT session
   * (backpressure, decisions 0035 and 0051): the PUBACK still follows acceptance into a bounded
   * queue.
   */
  handle(topic: string, payload: Buffer, meta: MqttMessageMeta): Promise<void> | undefined {
    const parsed = parseTopic(topic);
    if (!parsed.ok) {
      this.#metrics.invalid('unknown', 'topic');
      this.#reportInvalid('?', `ignored message on unexpected topic: ${parsed.error.message}`);
      return undefined;
    }
    const { deviceId, kind } = parsed.value;
    if (!isUplink(kind)) {
      this.#metrics.invalid('unknown', 'kind');
      this.#reportInvalid(deviceId, `ignored ${kind} message: not a device → hub kind`);
      return undefined;
    }
    if (payload.length === 0) {
      // An empty retained payload is how a retained message is cleared: nothing to ingest.
      this.#metrics.invalid(kind, 'empty');
      return undefined;
    }
    this.#metrics.countReceived(kind);
    // Telemetry, the bulk of the traffic, first tries a zod-free check that only ever accepts
    // what decodeMessage accepts (telemetry-fast-decode.ts); anything else is decided by protocol.
    const fast = kind === 'telemetry' ? decodeTelemetryFast(payload) : undefined;
    const decoded = fast !== undefined ? { ok: true as const, value: fast } : decodeMessage(kind, payload);
    if (!decoded.ok) {
      this.#metrics.invalid(kind, 'payload');
      this.#reportInvalid(deviceId, `dropped invalid ${kind}: ${decoded.error.message.slice(0, 1000)}`);
      return undefined;
    }
    // Only events are de-duplicated. Presence and reports are state and may repeat an id on
    // purpose: a Last Will is fixed at CONNECT and mqtt.js reuses it on every reconnect, so the
    // second "offline" of a flapping device carries the first one's id.
    if (DEDUPLICATED.has(kind) && this.#recent.seen(`${deviceId}/${decoded.value.id}`)) {
      this.#metrics.duplicates.inc({ kind });
      return undefined;
    }
    return this.#route(deviceId, decoded.value, meta.retained);
  }

  #route(
    deviceId: string,
    envelope: Envelope<UplinkKind, MessageBody<UplinkKind>>,
    retained: boolean,
  ): Promise<void> | undefined {
    const body = envelope.body;
    switch (envelope.kind) {
      case 'telemetry':
        for (const sample of (body as MessageBody<'telemetry'>).samples)
          this.#telemetry.push({ deviceId, ...sample });
        return undefined;
      case 'logs':
        for (const line of (body as MessageBody<'logs'>).lines) this.#logs.push({ deviceId, ...line });
        return undefined;
      case 'presence':
      case 'report':
      case 'progress':
      case 'ack': {
        // Built only here: rows do not carry them, and telemetry is most of the traffic. The
        // arrival time is taken after decoding: microseconds later than the packet, no matter.
        const receivedAt = new Date();
        const sentAt = new Date(envelope.time);
        const meta: MessageMeta = {
          messageId: envelope.id,
          sentAt,
          receivedAt,
          retained,
          seenAt: retained ? sentAt : receivedAt,
        };
        const op = { kind: envelope.kind, body, meta } as StateOp;
        const added = this.#state.tryPush(deviceId, op);
        if (added !== undefined) {
          if (added === 'merged') this.#metrics.coalesced.inc({ kind: op.kind });
          return undefined;
        }
        // The state map is full: wait for room, holding the session.
        return this.#state.push(deviceId, op).then((waited) => {
          if (waited === 'merged') this.#metrics.coalesced.inc({ kind: op.kind });
        });
      }
    }
  }

  /** Starts writers while there are ready devices and fewer than `state.writers` running. */
  #startWriters(): void {
    while (this.#writers < this.#options.state.writers) {
      const batch = this.#state.take(this.#options.state.maxBatch);
      if (batch.length === 0) return;
      this.#writers++;
      void this.#writeBatch(batch)
        .catch((error: Error) => this.#logger.error(`ingest: state batch failed: ${error.message}`))
        .finally(() => {
          this.#writers--;
          this.#state.complete(batch.map((b) => b.deviceId));
          this.#startWriters();
        });
    }
  }

  /**
   * One batch (one message per device): each kind as one sink call (one transaction) when the
   * sink has the batch method, else one call per message (progress and acks a few at once).
   * Never rejects: failures are retried, then split and finally counted and dropped
   * (#storeBatch).
   */
  async #writeBatch(batch: Array<{ deviceId: string; item: StateOp }>): Promise<void> {
    const presences: StateItem<MessageBody<'presence'>>[] = [];
    const reports: StateItem<MessageBody<'report'>>[] = [];
    const progress: StateItem<MessageBody<'progress'>>[] = [];
    const acks: StateItem<MessageBody<'ack'>>[] = [];
    for (const { deviceId, item } of batch) {
      if (item.kind === 'presence') presences.push({ deviceId, body: item.body, meta: item.meta });
      else if (item.kind === 'report') reports.push({ deviceId, body: item.body, meta: item.meta });
      else if (item.kind === 'progress') progress.push({ deviceId, body: item.body, meta: item.meta });
      else acks.push({ deviceId, body: item.body, meta: item.meta });
    }
    const sink = this.#sink;
    if (presences.length > 0)
      await this.#storeBatch('presence', presences, (items) =>
        sink.recordPresences
          ? sink.recordPresences(items)
          : eachOf(items, (i) => sink.recordPresence(i.deviceId, i.body, i.meta)),
      );
    if (reports.length > 0)
      await this.#storeBatch('report', reports, (items) =>
        sink.recordReports
          ? sink.recordReports(items)
          : eachOf(items, (i) => sink.recordReport(i.deviceId, i.body, i.meta)),
      );
    if (progress.length > 0 && sink.recordProgresses)
      await this.#storeBatch('progress', progress, (items) => sink.recordProgresses!(items));
    if (acks.length > 0 && sink.recordCommandAcks)
      await this.#storeBatch('ack', acks, (items) => sink.recordCommandAcks!(items));
    // A sink without the batch forms: one transaction per message, a few at once.
    const events: Array<() => Promise<void>> = [
      ...(sink.recordProgresses ? [] : progress).map(
        (i) => () => this.#storeBatch('progress', [i], () => sink.recordProgress(i.deviceId, i.body, i.meta)),
      ),
      ...(sink.recordCommandAcks ? [] : acks).map(
        (i) => () => this.#storeBatch('ack', [i], () => sink.recordCommandAck(i.deviceId, i.body, i.meta)),
      ),
    ];
    let next = 0;
    const worker = async () => {
      for (let e = events[next++]; e !== undefined; e = events[next++]) await e();
    };
    await Promise.all(
      Array.from({ length: Math.min(this.#options.state.eventConcurrency, events.length) }, worker),
    );
  }

  /**
   * Stores `items` with `write`, retrying the whole batch after each of `recordRetryDelaysMs`
   * (a database away for a moment). If it still fails, the batch is split in halves, each
   * written once and split again on failure, down to the one message that fails alone: that
   * one is counted, logged with its device and dropped (bad data must not hold the others).
   */
  async #storeBatch<I extends { deviceId: string } | string>(
    kind: UplinkKind,
    items: readonly I[],
    write: (items: readonly I[]) => Promise<unknown>,
  ): Promise<void> {
    const delays = this.#options.recordRetryDelaysMs;
    let attempts = 0;
    for (;;) {
      try {
        attempts++;
        await write(items);
        return;
      } catch (error) {
        const delay = delays[attempts - 1];
        if (delay === undefined || this.#closing.signal.aborted) {
          await this.#split(kind, items, write, error as Error, attempts);
          return;
        }
        await sleep(delay, this.#closing.signal);
      }
    }
  }

  async #split<I extends { deviceId: string } | string>(
    kind: UplinkKind,
    items: readonly I[],
    write: (items: readonly I[]) => Promise<unknown>,
    error: Error,
    attempts: number,
  ): Promise<void> {
    if (items.length === 1) {
      const item = items[0]!;
      const deviceId = typeof item === 'string' ? item : item.deviceId;
      this.#metrics.sinkErrors.inc({ kind });
      this.#logger.error(
        `ingest: dropped ${kind} from device ${deviceId} after ${attempts} attempt(s): ${error.message}`,
      );
      return;
    }
    const mid = Math.ceil(items.length / 2);
    for (const half of [items.slice(0, mid), items.slice(mid)]) {
      try {
        await write(half);
      } catch (e) {
        await this.#split(kind, half, write, e as Error, attempts + 1);
      }
    }
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
    return {
      telemetry: this.#telemetry.length,
      logs: this.#logs.length,
      records: this.#state.pending + this.#state.inFlight,
    };
  }

  /** Writes what is queued now and waits for records in flight (tests, shutdown). */
  async drain(): Promise<void> {
    await this.#state.idle();
    await Promise.all([this.#telemetry.flush(), this.#logs.flush()]);
  }

  /** Stops listening, then stores everything already received. */
  async close(): Promise<void> {
    this.#detach?.();
    this.#detach = undefined;
    if (this.#session !== undefined) await this.#session.unsubscribe(this.#filters).catch(() => undefined);
    await this.#state.idle();
    this.#closing.abort();
    await Promise.all([this.#telemetry.close(), this.#logs.close()]);
  }
}

const DEDUPLICATED: ReadonlySet<UplinkKind> = new Set(['progress', 'ack', 'telemetry', 'logs']);

/** One call per item, in order (a sink without batch methods). */
async function eachOf<I>(items: readonly I[], store: (item: I) => Promise<void>): Promise<void> {
  for (const item of items) await store(item);
}

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

import { randomUUID } from 'node:crypto';
import type { TelemetrySample } from '@fleet/protocol';
import type { LinkLogger } from './logger.js';

/** Protocol's cap on samples in one telemetry message (a full one is ~300 KiB, far below 4 MiB). */
export const MAX_SAMPLES_PER_MESSAGE = 1_000;

/** One telemetry message as built: its envelope id and its samples. */
export interface TelemetryMessage {
  readonly id: string;
  readonly samples: TelemetrySample[];
}

export interface TelemetryBatcherOptions {
  /** A sample arrives every this many ms (`intervals.telemetryMs`). */
  sampleEveryMs: number;
  /** The samples gathered are published every this many ms (`intervals.telemetryPublishMs`). */
  publishEveryMs: number;
  /**
   * Publishes one message. Resolves once the broker has it (PUBACK) or the link queued it on
   * disk; rejects when neither happened (connection lost first), and the message is kept to be
   * resent as it is. The envelope must carry `message.id`: the hub drops a second copy by it.
   */
  send: (message: TelemetryMessage) => Promise<void>;
  /** Whether the link is connected now: while it is not, samples wait in memory. */
  online: () => boolean;
  logger: LinkLogger;
  /** Samples kept at most; beyond it the oldest go. Default max(2 × samples per message, 60). */
  maxBuffered?: number;
  /** Milliseconds clock, injected for tests. */
  now?: () => number;
  /** Envelope ids for new messages; default random UUIDs. */
  newId?: () => string;
}

/**
 * Gathers telemetry samples and publishes them as one message every `publishEveryMs`
 * (decision 0037): the broker, the hub and the radio see one message where they saw
 * `publishEveryMs / sampleEveryMs`. Each sample keeps its own `time`.
 *
 * While the link is down samples wait here, not on flash, and leave on reconnect. A message
 * whose PUBACK never came is kept as it was built and resent with the same envelope id and the
 * same samples, ahead of newer ones: the broker or hub may have had it already (the connection
 * died between delivery and PUBACK), and the hub drops a copy by device and envelope id, so a
 * new id would store its samples twice. The buffer is bounded: an outage longer than
 * `maxBuffered` samples loses the oldest, counted in `dropped` and logged.
 */
export class TelemetryBatcher {
  private buffer: TelemetrySample[] = [];
  /** Messages built and sent but not acknowledged, oldest first; resent as they are. */
  private failed: TelemetryMessage[] = [];
  private lastPublishAt: number;
  private sending: Promise<void> | null = null;
  private droppedCount = 0;
  /** Drops since the last message that left: one outage's worth, for the log. */
  private dropRun = 0;
  private readonly now: () => number;
  private readonly newId: () => string;
  readonly maxBuffered: number;
  readonly samplesPerMessage: number;

  constructor(private readonly opts: TelemetryBatcherOptions) {
    if (!(opts.sampleEveryMs > 0))
      throw new RangeError(`sampleEveryMs must be > 0, got ${opts.sampleEveryMs}`);
    if (!(opts.publishEveryMs >= opts.sampleEveryMs))
      throw new RangeError(
        `publishEveryMs (${opts.publishEveryMs}) must be ≥ sampleEveryMs (${opts.sampleEveryMs})`,
      );
    this.now = opts.now ?? Date.now;
    this.newId = opts.newId ?? randomUUID;
    this.lastPublishAt = this.now();
    this.samplesPerMessage = Math.max(1, Math.round(opts.publishEveryMs / opts.sampleEveryMs));
    this.maxBuffered = opts.maxBuffered ?? Math.max(2 * this.samplesPerMessage, 60);
  }

  /** Samples dropped since start because the buffer was full. */
  get dropped(): number {
    return this.droppedCount;
  }

  /** Samples held (new ones and those of unacknowledged messages), not counting one in flight. */
  get buffered(): number {
    let n = this.buffer.length;
    for (const m of this.failed) n += m.samples.length;
    return n;
  }

  /**
   * Keeps a sample and publishes the batch when it is due. Due is judged when a sample arrives,
   * with half a sample interval of slack, so the sampling loop's drift (each sleep starts after
   * the previous sample was read) does not turn 5 samples a message into 4 and 6.
   */
  add(sample: TelemetrySample): void {
    this.buffer.push(sample);
    this.bound();
    // Not awaited: a PUBACK that is slow to come (a dying link) must not delay the next sample.
    if (this.isDue()) void this.flush();
  }

  private isDue(): boolean {
    return this.now() - this.lastPublishAt >= this.opts.publishEveryMs - this.opts.sampleEveryMs / 2;
  }

  /**
   * Publishes everything buffered now (in messages of at most 1 000 samples), if the link is up;
   * concurrent calls share one flush. Called when a batch is due, on reconnect and on stop.
   */
  flush(): Promise<void> {
    if (this.sending) return this.sending;
    if ((this.buffer.length === 0 && this.failed.length === 0) || !this.opts.online())
      return Promise.resolve();
    this.lastPublishAt = this.now();
    this.sending = this.drain().finally(() => {
      this.sending = null;
    });
    return this.sending;
  }

  /** The link reconnected: samples held while it was down leave now, not at the next deadline. */
  onConnected(): void {
    if (this.isDue()) void this.flush();
  }

  /**
   * Takes everything held out as messages, unacknowledged ones with their ids (the caller hands
   * them to the disk queue on a stop while offline).
   */
  takeAll(): TelemetryMessage[] {
    const all = this.failed;
    this.failed = [];
    while (this.buffer.length > 0) all.push(this.build());
    return all;
  }

  /** The next new message: the oldest buffered samples, at most 1 000, under a fresh id. */
  private build(): TelemetryMessage {
    return { id: this.newId(), samples: this.buffer.splice(0, MAX_SAMPLES_PER_MESSAGE) };
  }

  private async drain(): Promise<void> {
    while (this.opts.online()) {
      const message = this.failed.shift() ?? (this.buffer.length > 0 ? this.build() : undefined);
      if (!message) return;
      try {
        await this.opts.send(message);
        this.dropRun = 0;
      } catch (e) {
        // Kept as built, ahead of what arrived meanwhile; the next flush (reconnect) resends it.
        this.failed.unshift(message);
        this.bound();
        this.opts.logger.debug(
          `telemetry message of ${message.samples.length} kept for resend: ${(e as Error).message}`,
        );
        return;
      }
    }
  }

  private bound(): void {
    const over = this.buffered - this.maxBuffered;
    if (over <= 0) return;
    // The oldest go first, from unacknowledged messages then new samples. A trimmed message keeps
    // its id: if the hub stored the original, it drops the resend whole, so nothing is doubled.
    let left = over;
    while (left > 0 && this.failed.length > 0) {
      const m = this.failed[0]!;
      if (m.samples.length <= left) {
        left -= m.samples.length;
        this.failed.shift();
      } else {
        this.failed[0] = { id: m.id, samples: m.samples.slice(left) };
        left = 0;
      }
    }
    this.buffer.splice(0, left);
    // Logged at the first drop of an outage and then every 60, so a long one is not a log flood.
    const before = this.dropRun;
    this.dropRun += over;
    this.droppedCount += over;
    if (before === 0 || Math.floor(before / 60) !== Math.floor(this.dropRun / 60))
      this.opts.logger.warn(
        `telemetry buffer full (${this.maxBuffered} samples): dropped the oldest, ${this.droppedCount} since start`,
      );
  }
}

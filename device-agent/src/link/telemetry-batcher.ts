import type { TelemetrySample } from '@fleet/protocol';
import type { LinkLogger } from './logger.js';

/** Protocol's cap on samples in one telemetry message (a full one is ~300 KiB, far below 4 MiB). */
export const MAX_SAMPLES_PER_MESSAGE = 1_000;

export interface TelemetryBatcherOptions {
  /** A sample arrives every this many ms (`intervals.telemetryMs`). */
  sampleEveryMs: number;
  /** The samples gathered are published every this many ms (`intervals.telemetryPublishMs`). */
  publishEveryMs: number;
  /**
   * Publishes one message. Resolves once the broker has it (PUBACK) or the link queued it on
   * disk; rejects when neither happened (connection lost first), and the samples are kept.
   */
  send: (samples: TelemetrySample[]) => Promise<void>;
  /** Whether the link is connected now: while it is not, samples wait in memory. */
  online: () => boolean;
  logger: LinkLogger;
  /** Samples kept at most; beyond it the oldest go. Default max(2 × samples per message, 60). */
  maxBuffered?: number;
  /** Milliseconds clock, injected for tests. */
  now?: () => number;
}

/**
 * Gathers telemetry samples and publishes them as one message every `publishEveryMs`
 * (decision 0037): the broker, the hub and the radio see one message where they saw
 * `publishEveryMs / sampleEveryMs`. Each sample keeps its own `time`.
 *
 * While the link is down samples wait here, not on flash, and leave on reconnect; a message
 * lost with the connection is put back. The buffer is bounded: an outage longer than
 * `maxBuffered` samples loses the oldest, counted in `dropped` and logged.
 */
export class TelemetryBatcher {
  private buffer: TelemetrySample[] = [];
  private lastPublishAt: number;
  private sending: Promise<void> | null = null;
  private droppedCount = 0;
  /** Drops since the last message that left: one outage's worth, for the log. */
  private dropRun = 0;
  private readonly now: () => number;
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
    this.lastPublishAt = this.now();
    this.samplesPerMessage = Math.max(1, Math.round(opts.publishEveryMs / opts.sampleEveryMs));
    this.maxBuffered = opts.maxBuffered ?? Math.max(2 * this.samplesPerMessage, 60);
  }

  /** Samples dropped since start because the buffer was full. */
  get dropped(): number {
    return this.droppedCount;
  }

  get buffered(): number {
    return this.buffer.length;
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
    if (this.buffer.length === 0 || !this.opts.online()) return Promise.resolve();
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

  /** Takes the buffered samples out (the caller hands them to the disk queue on a stop while offline). */
  takeAll(): TelemetrySample[] {
    const all = this.buffer;
    this.buffer = [];
    return all;
  }

  private async drain(): Promise<void> {
    while (this.buffer.length > 0 && this.opts.online()) {
      const batch = this.buffer.splice(0, MAX_SAMPLES_PER_MESSAGE);
      try {
        await this.opts.send(batch);
        this.dropRun = 0;
      } catch (e) {
        // Kept, in order, ahead of what arrived meanwhile; the next flush (reconnect) sends them.
        this.buffer = [...batch, ...this.buffer];
        this.bound();
        this.opts.logger.debug(`telemetry batch of ${batch.length} kept for later: ${(e as Error).message}`);
        return;
      }
    }
  }

  private bound(): void {
    const over = this.buffer.length - this.maxBuffered;
    if (over <= 0) return;
    this.buffer.splice(0, over);
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

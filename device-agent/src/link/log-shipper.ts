import type { LogLine, Logs } from '@fleet/protocol';
import type { LinkLogger } from './logger.js';

export interface LogShipperOptions {
  /** Sustained rate; a burst of one second's worth is allowed (token bucket). */
  linesPerSecond: number;
  flushMs: number;
  /** Sends one batch (the link queues it as a droppable `logs` message). */
  publish: (logs: Logs) => Promise<void>;
  logger: LinkLogger;
  /** Milliseconds clock, injected for tests. */
  now?: () => number;
  /** Lines held while publishing lags; beyond this new lines are dropped and counted. */
  maxBufferedLines?: number;
}

export interface LogInput {
  source: string;
  stream: LogLine['stream'];
  text: string;
  time?: Date;
}

/** Protocol caps: 1000 lines a message, 8 KiB a line; a batch also stays well below 4 MiB. */
const MAX_LINES_PER_BATCH = 1000;
const MAX_TEXT = 8 * 1024;
const MAX_BATCH_BYTES = 1024 * 1024;

/**
 * Collects log lines (from the runtime's container consoles and the agent itself), rate-limits
 * them so a container printing in a loop cannot flood a cellular link, and publishes batches.
 * Dropped lines are counted and the count travels in the next batch (`dropped`), so the
 * operator sees that lines are missing and how many.
 */
export class LogShipper {
  private buffer: LogLine[] = [];
  private tokens: number;
  private lastRefill: number;
  private droppedSinceBatch = 0;
  private droppedTotalCount = 0;
  private flushing: Promise<void> | null = null;
  private timer: NodeJS.Timeout | null = null;
  private readonly now: () => number;
  private readonly maxBuffered: number;

  constructor(private readonly opts: LogShipperOptions) {
    if (!(opts.linesPerSecond >= 1))
      throw new RangeError(`linesPerSecond must be >= 1, got ${opts.linesPerSecond}`);
    this.now = opts.now ?? Date.now;
    this.tokens = opts.linesPerSecond;
    this.lastRefill = this.now();
    this.maxBuffered = opts.maxBufferedLines ?? Math.max(MAX_LINES_PER_BATCH, opts.linesPerSecond * 10);
  }

  /** Lines dropped since this shipper started (rate limit or full buffer). */
  get droppedTotal(): number {
    return this.droppedTotalCount;
  }

  get buffered(): number {
    return this.buffer.length;
  }

  /** Offers one line; false when the rate limit or the buffer bound dropped it. */
  push(line: LogInput): boolean {
    this.refill();
    if (this.tokens < 1 || this.buffer.length >= this.maxBuffered) {
      this.droppedSinceBatch++;
      this.droppedTotalCount++;
      return false;
    }
    this.tokens -= 1;
    const text = line.text.length > MAX_TEXT ? `${line.text.slice(0, MAX_TEXT - 1)}…` : line.text;
    this.buffer.push({
      time: (line.time ?? new Date(this.now())).toISOString(),
      source: line.source.slice(0, 64) || 'unknown',
      stream: line.stream,
      text,
    });
    if (this.buffer.length >= MAX_LINES_PER_BATCH) void this.flush();
    return true;
  }

  private refill(): void {
    const t = this.now();
    const elapsed = Math.max(0, t - this.lastRefill);
    this.lastRefill = t;
    this.tokens = Math.min(
      this.opts.linesPerSecond,
      this.tokens + (elapsed / 1000) * this.opts.linesPerSecond,
    );
  }

  /** Publishes everything buffered, in batches; concurrent calls share one flush. */
  flush(): Promise<void> {
    if (this.flushing) return this.flushing;
    this.flushing = this.drain().finally(() => {
      this.flushing = null;
    });
    return this.flushing;
  }

  private async drain(): Promise<void> {
    while (this.buffer.length > 0) {
      let bytes = 0;
      let n = 0;
      while (n < this.buffer.length && n < MAX_LINES_PER_BATCH) {
        bytes += (this.buffer[n] as LogLine).text.length * 3 + 64;
        if (bytes > MAX_BATCH_BYTES && n > 0) break;
        n++;
      }
      const lines = this.buffer.splice(0, n);
      const dropped = this.droppedSinceBatch;
      this.droppedSinceBatch = 0;
      try {
        await this.opts.publish({ lines, dropped });
      } catch (e) {
        // Not retried: logs are droppable by design; the loss is counted and reported next time.
        this.droppedSinceBatch += dropped + lines.length;
        this.droppedTotalCount += lines.length;
        this.opts.logger.warn(`log batch of ${lines.length} lines not published: ${(e as Error).message}`);
        return;
      }
    }
  }

  /** Flushes every flushMs until stop(). */
  start(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.flush(), this.opts.flushMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    await this.flush();
  }
}

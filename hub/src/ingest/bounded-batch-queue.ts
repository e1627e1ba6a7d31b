/**
 * A bounded FIFO drained in batches by a single writer.
 *
 * Policy when full: drop the oldest item and count it. This queue carries telemetry and logs:
 * the newest sample is worth more than the oldest, and the alternative (pausing the MQTT
 * session) would also stall presence, reports and progress that share the session, and push
 * the backlog into the broker, which drops for its own reasons. The counter makes the loss
 * visible in /metrics.
 *
 * A failed write puts its batch back at the head and retries after `retryDelayMs`, so a short
 * database outage loses nothing until the queue overflows.
 *
 * Up to `writers` batches are written at once (default 1). Use more only where the order of
 * batches does not matter (telemetry rows are keyed by device and time): the database then
 * uses more than one core while the hub parses the next messages.
 */
export interface BoundedBatchQueueOptions<T> {
  /** Most items held; pushing beyond drops the oldest. */
  capacity: number;
  /** Most items per write. */
  maxBatch: number;
  /** A partial batch is written at most this long after its first item arrived. */
  flushIntervalMs: number;
  /** Wait after a failed write before trying again. */
  retryDelayMs?: number;
  /** Batches written concurrently. */
  writers?: number;
  write(batch: T[]): Promise<void>;
  onDropped?(count: number): void;
  onWritten?(count: number): void;
  onWriteError?(error: unknown, batchSize: number): void;
}

export class BoundedBatchQueue<T> {
  readonly #o: Required<Omit<BoundedBatchQueueOptions<T>, 'onDropped' | 'onWritten' | 'onWriteError'>> &
    Pick<BoundedBatchQueueOptions<T>, 'onDropped' | 'onWritten' | 'onWriteError'>;
  #items: T[] = [];
  #head = 0;
  #timer: NodeJS.Timeout | undefined;
  readonly #writing = new Set<Promise<void>>();
  #closed = false;
  #backoffUntil = 0;
  dropped = 0;
  written = 0;
  failedWrites = 0;

  constructor(options: BoundedBatchQueueOptions<T>) {
    if (!(options.capacity >= options.maxBatch && options.maxBatch > 0))
      throw new RangeError('need capacity >= maxBatch > 0');
    this.#o = { retryDelayMs: 1000, writers: 1, ...options };
  }

  get length(): number {
    return this.#items.length - this.#head;
  }

  /** Adds an item; never blocks. */
  push(item: T): void {
    if (this.#closed) {
      this.#drop(1);
      return;
    }
    this.#items.push(item);
    const excess = this.length - this.#o.capacity;
    if (excess > 0) {
      this.#head += excess;
      this.#drop(excess);
    }
    this.#compact();
    // While every writer is busy they take the next full batches themselves (#drain's loop, then
    // #afterDrain): kicking on each push then only cost a Date.now() and a Promise.all per row.
    if (this.length >= this.#o.maxBatch) {
      if (this.#writing.size < this.#o.writers) this.#kick();
    } else this.#arm(this.#o.flushIntervalMs);
  }

  /** Writes everything held now (in batches); returns early after a failed write. */
  async flush(): Promise<void> {
    for (;;) {
      if (this.#writing.size > 0) {
        await Promise.all(this.#writing);
        continue;
      }
      if (this.length === 0) return;
      const failuresBefore = this.failedWrites;
      this.#backoffUntil = 0; // an explicit flush tries now
      await this.#startDrain(true);
      if (this.failedWrites !== failuresBefore) return;
    }
  }

  /**
   * Stops the timer, writes what is left (one attempt), and refuses later pushes. Whatever
   * could not be written is counted as dropped: nothing disappears unaccounted.
   */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer !== undefined) clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.flush();
    if (this.length > 0) {
      this.#drop(this.length);
      this.#items = [];
      this.#head = 0;
    }
  }

  #drop(count: number): void {
    this.dropped += count;
    this.#o.onDropped?.(count);
  }

  #compact(): void {
    if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head);
      this.#head = 0;
    }
  }

  #arm(delayMs: number): void {
    if (this.#timer !== undefined || this.#closed) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#kick(true);
    }, delayMs);
  }

  #kick(partial = false): void {
    const wait = this.#backoffUntil - Date.now();
    if (wait > 0) this.#arm(wait);
    else this.#launch(partial);
  }

  #startDrain(partial: boolean): Promise<void> {
    this.#launch(partial);
    return Promise.all(this.#writing).then(() => undefined);
  }

  /** At most `writers` drains run; each takes batches until too few rows are left. */
  #launch(partial: boolean): void {
    while (
      this.#writing.size < this.#o.writers &&
      (this.length >= this.#o.maxBatch || (partial && this.length > 0))
    ) {
      const writer: Promise<void> = this.#drain(partial).finally(() => {
        this.#writing.delete(writer);
        this.#afterDrain();
      });
      this.#writing.add(writer);
    }
  }

  #afterDrain(): void {
    if (this.#closed || this.length === 0) return;
    const wait = this.#backoffUntil - Date.now();
    if (wait > 0) this.#arm(wait);
    else if (this.length >= this.#o.maxBatch) this.#launch(false);
    else this.#arm(this.#o.flushIntervalMs);
  }

  /** Writes full batches, and the last partial one when `partial`; stops at the first failure. */
  async #drain(partial: boolean): Promise<void> {
    while (this.length >= this.#o.maxBatch || (partial && this.length > 0)) {
      if (Date.now() < this.#backoffUntil) return; // another writer just failed: wait with it
      const batch = this.#items.slice(this.#head, this.#head + this.#o.maxBatch);
      this.#head += batch.length;
      try {
        await this.#o.write(batch);
      } catch (error) {
        this.failedWrites++;
        // Back at the head, in order; anything pushed meanwhile stays behind it. If that
        // overflows, the oldest go first, as for any overflow.
        this.#items = [...batch, ...this.#items.slice(this.#head)];
        this.#head = 0;
        const excess = this.length - this.#o.capacity;
        if (excess > 0) {
          this.#head = excess;
          this.#drop(excess);
        }
        this.#backoffUntil = Date.now() + this.#o.retryDelayMs;
        this.#o.onWriteError?.(error, batch.length);
        return;
      }
      this.written += batch.length;
      this.#o.onWritten?.(batch.length);
      this.#compact();
    }
  }
}

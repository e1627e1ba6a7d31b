/**
 * Pending device state messages (presence, report, progress, ack), per device in arrival order,
 * handed out in batches that hold at most one message per device.
 *
 * Why: storing each message in its own transaction, with the MQTT listener waiting for a free
 * slot, held the hub's one session (telemetry included) whenever the database was slower than
 * the devices (docs/scale.md, decision 0035). Here the listener only waits while the map is
 * *full*; writers take batches of many devices and store each kind with a few set-based
 * statements.
 *
 * Order: a device's messages leave in the order they came, and the next one only after the
 * previous one's batch completed (`complete`), so per-device order holds with any number of
 * writers. Coalescing: a message may replace the pending message just before it (not one being
 * written) when `merge` says the newer one carries everything the older one would have stored
 * (see `mergeState`). Capacity counts pending messages, not devices: a full map makes `push`
 * wait, which holds the MQTT session (backpressure); a message that merges into a pending one
 * never waits.
 */
export class StateBatcher<T> {
  readonly #capacity: number;
  readonly #merge: (older: T, newer: T) => T | undefined;
  /** Device → its pending messages (not yet taken) and whether one is being written. */
  readonly #devices = new Map<string, { queue: T[]; busy: boolean }>();
  /** Devices with pending messages and nothing being written, in the order they became ready. */
  readonly #ready = new Set<string>();
  readonly #spaceWaiters: (() => void)[] = [];
  readonly #idleWaiters: (() => void)[] = [];
  readonly #readyListeners: (() => void)[] = [];
  #pending = 0;
  #busy = 0;

  constructor(options: { capacity: number; merge: (older: T, newer: T) => T | undefined }) {
    if (!(options.capacity >= 1)) throw new RangeError('state capacity must be >= 1');
    this.#capacity = options.capacity;
    this.#merge = options.merge;
  }

  /** Messages waiting to be taken. */
  get pending(): number {
    return this.#pending;
  }

  /** Devices whose message is being written. */
  get inFlight(): number {
    return this.#busy;
  }

  /** Called (synchronously) whenever a device becomes ready, so writers can start. */
  onReady(listener: () => void): void {
    this.#readyListeners.push(listener);
  }

  /**
   * Adds a message. Resolves at once when it merged into the device's last pending message or
   * there is room; otherwise when room was made. Returns whether it merged.
   */
  async push(deviceId: string, item: T): Promise<'merged' | 'queued'> {
    for (;;) {
      const added = this.tryPush(deviceId, item);
      if (added !== undefined) return added;
      await new Promise<void>((resolve) => this.#spaceWaiters.push(resolve));
    }
  }

  /**
   * `push` without waiting: adds the message and returns whether it merged, or returns
   * undefined (and adds nothing) when the map is full. The ingest listener's common path: no
   * promise per message.
   */
  tryPush(deviceId: string, item: T): 'merged' | 'queued' | undefined {
    let entry = this.#devices.get(deviceId);
    const last = entry?.queue.at(-1);
    if (entry !== undefined && last !== undefined) {
      const merged = this.#merge(last, item);
      if (merged !== undefined) {
        entry.queue[entry.queue.length - 1] = merged;
        return 'merged';
      }
    }
    if (this.#pending >= this.#capacity) return undefined;
    if (entry === undefined) {
      entry = { queue: [], busy: false };
      this.#devices.set(deviceId, entry);
    }
    entry.queue.push(item);
    this.#pending++;
    if (!entry.busy && !this.#ready.has(deviceId)) {
      this.#ready.add(deviceId);
      for (const listener of this.#readyListeners) listener();
    }
    return 'queued';
  }

  /**
   * Takes the oldest pending message of up to `max` ready devices and marks those devices busy
   * until `complete`. Empty when nothing is ready.
   */
  take(max: number): Array<{ deviceId: string; item: T }> {
    const batch: Array<{ deviceId: string; item: T }> = [];
    for (const deviceId of this.#ready) {
      if (batch.length >= max) break;
      this.#ready.delete(deviceId);
      const entry = this.#devices.get(deviceId);
      const item = entry?.queue.shift();
      if (entry === undefined || item === undefined) continue;
      entry.busy = true;
      this.#busy++;
      this.#pending--;
      batch.push({ deviceId, item });
    }
    // Room was made: let waiting messages in (each re-checks the capacity).
    for (let i = 0; i < batch.length && this.#spaceWaiters.length > 0; i++) this.#spaceWaiters.shift()?.();
    return batch;
  }

  /** The messages of `deviceIds` (from `take`) are stored or given up: their next may go. */
  complete(deviceIds: readonly string[]): void {
    let readied = false;
    for (const deviceId of deviceIds) {
      const entry = this.#devices.get(deviceId);
      if (entry === undefined || !entry.busy) continue;
      entry.busy = false;
      this.#busy--;
      if (entry.queue.length > 0) {
        this.#ready.add(deviceId);
        readied = true;
      } else this.#devices.delete(deviceId);
    }
    if (readied) for (const listener of this.#readyListeners) listener();
    if (this.#pending === 0 && this.#busy === 0) for (const w of this.#idleWaiters.splice(0)) w();
  }

  /** Resolves when nothing is pending or being written. */
  async idle(): Promise<void> {
    if (this.#pending === 0 && this.#busy === 0) return;
    await new Promise<void>((resolve) => this.#idleWaiters.push(resolve));
  }
}

/**
 * Runs tasks one at a time per key (a device's messages stay in order) and at most
 * `maxInFlight` tasks overall.
 *
 * `submit` resolves when the task has been *admitted*, not when it finished: the MQTT listener
 * awaits admission, so once `maxInFlight` tasks are running the session stops reading (and
 * acknowledging) until one finishes. That is the backpressure for presence, reports, progress
 * and acks, which must not be dropped; their volume is small next to telemetry.
 */
export class KeyedSerialExecutor {
  readonly #maxInFlight: number;
  readonly #tails = new Map<string, Promise<void>>();
  readonly #waiting: (() => void)[] = [];
  #inFlight = 0;

  constructor(maxInFlight: number) {
    if (!(maxInFlight >= 1)) throw new RangeError('maxInFlight must be >= 1');
    this.#maxInFlight = maxInFlight;
  }

  /** Tasks admitted and not yet finished (queued behind their key, or running). */
  get inFlight(): number {
    return this.#inFlight;
  }

  async submit(key: string, task: () => Promise<void>): Promise<void> {
    while (this.#inFlight >= this.#maxInFlight) {
      await new Promise<void>((resolve) => this.#waiting.push(resolve));
    }
    this.#inFlight++;
    const previous = this.#tails.get(key) ?? Promise.resolve();
    // Task errors are the task's business (the caller wraps them); the chain must keep going.
    const run = previous.then(task).catch(() => undefined);
    const tail = run.finally(() => {
      this.#inFlight--;
      if (this.#tails.get(key) === tail) this.#tails.delete(key);
      this.#waiting.shift()?.();
    });
    this.#tails.set(key, tail);
  }

  /** Resolves once every admitted task has finished. */
  async idle(): Promise<void> {
    while (this.#tails.size > 0) await Promise.all([...this.#tails.values()]);
  }
}

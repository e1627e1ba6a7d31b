/**
 * Remembers the last `capacity` message ids, oldest forgotten first. QoS 1 redeliveries and
 * offline replays arrive with the same envelope id; this catches the common case (a duplicate
 * soon after the original) in memory. The sinks stay idempotent for the rest.
 */
export class RecentIds {
  readonly #capacity: number;
  readonly #ids = new Set<string>();

  constructor(capacity: number) {
    this.#capacity = capacity;
  }

  /** True if the id was seen before; otherwise remembers it and returns false. */
  seen(id: string): boolean {
    if (this.#ids.has(id)) return true;
    this.#ids.add(id);
    if (this.#ids.size > this.#capacity) {
      const oldest = this.#ids.values().next().value;
      if (oldest !== undefined) this.#ids.delete(oldest);
    }
    return false;
  }
}

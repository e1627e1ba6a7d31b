/**
 * Remembers the last `capacity` message ids, oldest forgotten first. QoS 1 redeliveries and
 * offline replays arrive with the same envelope id; this catches the common case (a duplicate
 * soon after the original) in memory. The sinks stay idempotent for the rest.
 *
 * A ring of slots plus a Set for membership: the next slot to overwrite always holds the oldest
 * id. Evicting the first entry of a Set instead (`values().next()`) made the iterator walk over
 * every deleted entry the Set had not compacted yet: 37–45 % of a hub replica's CPU in the scale
 * benchmark. Here `seen` is a lookup, at most one delete and one insert.
 */
export class RecentIds {
  readonly #slots: (string | undefined)[];
  readonly #ids = new Set<string>();
  /** The slot the next new id goes to; once the ring is full, it holds the oldest id. */
  #next = 0;

  constructor(capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 1)
      throw new RangeError(`RecentIds capacity must be a positive integer, got ${capacity}`);
    this.#slots = new Array<string | undefined>(capacity).fill(undefined);
  }

  /** True if the id was seen before; otherwise remembers it and returns false. */
  seen(id: string): boolean {
    const ids = this.#ids;
    if (ids.has(id)) return true;
    const slot = this.#next;
    const oldest = this.#slots[slot];
    if (oldest !== undefined) ids.delete(oldest);
    this.#slots[slot] = id;
    ids.add(id);
    this.#next = slot + 1 === this.#slots.length ? 0 : slot + 1;
    return false;
  }

  /** How many ids are remembered (at most `capacity`). */
  get size(): number {
    return this.#ids.size;
  }
}

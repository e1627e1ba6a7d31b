// Pins: objects kept by the garbage collector although no kept revision references them yet.
// `fleet-agent import-image` puts a rootfs into the store for a release that does not exist
// yet; without a pin the GC after the next update (or at the next start) deleted it.
//
// A pin lasts until a kept revision references the object (from then on the revision protects
// it, and the pin is dropped so the object ages out with that revision like any other) or
// until it expires (an import nobody used does not fill the disk forever).
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseDigest, type Digest } from '@fleet/protocol';
import { z } from 'zod';
import { errnoCode, writeFileAtomic } from './durable.js';
import { StoreError } from './errors.js';

/** How long an import is kept unused by default. */
export const DEFAULT_PIN_TTL_MS = 7 * 24 * 3600 * 1000;

const PinsDoc = z.strictObject({
  spec: z.literal('fleet-object-pins@1'),
  pins: z.record(z.string(), z.strictObject({ until: z.iso.datetime(), reason: z.string().max(1024) })),
});
type PinsDoc = z.infer<typeof PinsDoc>;

export interface Pin {
  readonly digest: Digest;
  readonly until: string;
  readonly reason: string;
}

/** `<root>/objects/pins.json`, written atomically; an unreadable file is an error, never "no pins". */
export class ObjectPins {
  readonly file: string;

  constructor(root: string) {
    this.file = join(root, 'objects', 'pins.json');
  }

  private async read(): Promise<PinsDoc> {
    let text: string;
    try {
      text = await readFile(this.file, 'utf8');
    } catch (e) {
      if (errnoCode(e) === 'ENOENT') return { spec: 'fleet-object-pins@1', pins: {} };
      throw e;
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (e) {
      throw new StoreError('invalid', `${this.file}: not JSON (${(e as Error).message})`);
    }
    const r = PinsDoc.safeParse(json);
    // GC refuses to run rather than delete what a damaged file meant to keep.
    if (!r.success) throw new StoreError('invalid', `${this.file}: ${z.prettifyError(r.error)}`);
    return r.data;
  }

  private async write(doc: PinsDoc): Promise<void> {
    await writeFileAtomic(this.file, `${JSON.stringify(doc, null, 2)}\n`, String(process.pid));
  }

  /** Pin (or extend the pin of) an object until `now + ttlMs`; a longer existing pin is kept. */
  async pin(digest: Digest, o: { reason: string; ttlMs?: number; now?: number }): Promise<Pin> {
    const d = parseDigest(digest);
    if (!d.ok) throw new StoreError('invalid', `pin ${JSON.stringify(digest)}: ${d.error.message}`);
    const doc = await this.read();
    const until = new Date((o.now ?? Date.now()) + (o.ttlMs ?? DEFAULT_PIN_TTL_MS)).toISOString();
    const prev = doc.pins[d.value];
    const kept = prev && prev.until > until ? prev : { until, reason: o.reason.slice(0, 1024) };
    doc.pins[d.value] = kept;
    await this.write(doc);
    return { digest: d.value, ...kept };
  }

  async list(): Promise<Pin[]> {
    const doc = await this.read();
    return Object.entries(doc.pins)
      .map(([digest, p]) => ({ digest: digest as Digest, ...p }))
      .sort((a, b) => a.digest.localeCompare(b.digest));
  }

  /**
   * The digests pinned at `now`, after dropping the pins that ended: expired, or the object
   * is `referenced` by a kept revision (used). Called by GC with what the kept revisions name.
   */
  async live(now: number, referenced: ReadonlySet<string>): Promise<Set<Digest>> {
    const doc = await this.read();
    const at = new Date(now).toISOString();
    const live = new Set<Digest>();
    let changed = false;
    for (const [digest, p] of Object.entries(doc.pins)) {
      if (p.until <= at || referenced.has(digest)) {
        delete doc.pins[digest];
        changed = true;
      } else live.add(digest as Digest);
    }
    if (changed) await this.write(doc);
    return live;
  }
}

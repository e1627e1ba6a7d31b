// Garbage collection of the object store, run by main.ts at start and after every update
// ends. What must survive is decided here, from the engine's own records: the committed
// revision, the rollback history the ledger keeps, and the in-flight update's target (its
// objects may be downloaded before its revision is stored). Past revisions keep their
// containers' objects but not their system objects (kernel, dtb, rootfs: decision 0026).
import { manifestObjects, type Digest } from '@fleet/protocol';
import { collectGarbage, type GcResult } from '../store/gc.js';
import type { ObjectStore } from '../store/object-store.js';
import type { RevisionStore } from '../store/revision-store.js';
import type { JournalUpdate } from '../update/journal.js';
import type { Current } from '../update/ledger.js';

export interface GcRootSources {
  /** The ledger's `current` (null on a fresh device; throws when unreadable). */
  readonly current: () => Promise<Current | null>;
  /** The journal's update in flight, if any. */
  readonly update: () => JournalUpdate | null;
  /** Store revision number of an engine revision id (throws when it is not stored). */
  readonly numberOf: (id: string) => Promise<number>;
}

export interface GcRoots {
  /** Revisions all of whose objects are kept. */
  readonly keep: number[];
  /**
   * Past revisions (the ledger's history) whose container objects are kept but whose system
   * objects are not: the inactive slot already holds the previous system, and a rollback to a
   * past system release downloads its rootfs again (the revision stays stored, so the
   * anti-rollback rule still accepts it). Keeping up to 10 past system images (146-212 MiB
   * each) is what made the 3rd system update on a 640 MiB data partition run out of space.
   */
  readonly appsOnly: number[];
  readonly extraRoots: Digest[];
}

const DIGEST = /^sha256:[0-9a-f]{64}$/;

/**
 * The revisions whose objects are kept, and digests kept besides them. The committed revision
 * must be stored (an error otherwise: deleting while unsure could destroy what runs); a history
 * entry or an in-flight target not stored (yet, or any more) simply protects nothing by number.
 */
export async function gcRoots(s: GcRootSources): Promise<GcRoots> {
  const current = await s.current();
  const keep = new Set<number>();
  const history = new Set<number>();
  const extraRoots = new Set<Digest>();
  if (current) {
    keep.add(await s.numberOf(current.committed.revision));
    for (const h of current.history) {
      const n = await s.numberOf(h.revision).catch(() => null);
      if (n !== null) history.add(n);
    }
    for (const d of Object.values(current.system ?? {})) if (d && DIGEST.test(d)) extraRoots.add(d);
  }
  const u = s.update();
  if (u) {
    const n = await s.numberOf(u.to).catch(() => null);
    if (n !== null) keep.add(n);
    for (const o of manifestObjects(u.target.release)) extraRoots.add(o.digest);
  }
  const sorted = (ns: Iterable<number>) => [...ns].sort((a, b) => a - b);
  return {
    keep: sorted(keep),
    // A past revision that is also the committed one or the in-flight target (a rollback in
    // progress) keeps everything.
    appsOnly: sorted([...history].filter((n) => !keep.has(n))),
    extraRoots: [...extraRoots].sort(),
  };
}

/** One collection: roots from the engine's records, then store/'s collectGarbage. */
export async function collectUnreferenced(
  s: GcRootSources & { readonly objects: ObjectStore; readonly revisions: RevisionStore },
): Promise<GcResult> {
  const roots = await gcRoots(s);
  const extra = new Set<Digest>(roots.extraRoots);
  // An unreadable manifest throws here, as in collectGarbage: deleting while unsure what a
  // rollback target references could destroy it.
  for (const n of roots.appsOnly)
    for (const c of Object.values((await s.revisions.read(n)).containers)) extra.add(c.rootfs.digest);
  const result = await collectGarbage(s.objects, s.revisions, roots.keep, [...extra].sort());
  return {
    ...result,
    keptRevisions: [...new Set([...result.keptRevisions, ...roots.appsOnly])].sort((a, b) => a - b),
  };
}

import { manifestObjects, type Digest, type RevisionManifest } from '@fleet/protocol';
import type { ObjectStore } from './object-store.js';
import type { RevisionStore } from './revision-store.js';

/**
 * Objects that no kept revision references: what garbage collection may delete. Pure, so the
 * rule is tested on its own: an object is kept if any kept manifest names it (container
 * rootfs, kernel, dtb, system rootfs), whatever else is true about it.
 */
export function planGc(kept: readonly RevisionManifest[], objects: readonly Digest[]): Digest[] {
  const referenced = new Set<string>();
  for (const m of kept) for (const o of manifestObjects(m)) referenced.add(o.digest);
  return [...new Set(objects)].filter((d) => !referenced.has(d)).sort();
}

export interface GcResult {
  deleted: Digest[];
  keptRevisions: number[];
}

/**
 * Deletes every object no kept revision references and no live pin holds (pins.ts; pins of
 * objects a kept revision now references, and expired ones, are dropped here). `keep` lists
 * the revision numbers to keep (current, try, the last good one...): the caller decides;
 * revisions not in it are not deleted here, but their objects are no longer protected. A
 * manifest or pin file that cannot be read is an error: deleting objects while unsure what is
 * referenced could destroy a rollback target or an import.
 */
export async function collectGarbage(
  objects: ObjectStore,
  revisions: RevisionStore,
  keep: readonly number[],
  extraRoots: readonly Digest[] = [],
  now: number = Date.now(),
): Promise<GcResult> {
  const manifests: RevisionManifest[] = [];
  for (const n of [...new Set(keep)].sort((a, b) => a - b)) manifests.push(await revisions.read(n));
  const referenced = new Set<string>();
  for (const m of manifests) for (const o of manifestObjects(m)) referenced.add(o.digest);
  return objects.exclusive(async () => {
    const all = await objects.list();
    const protectedSet = new Set<string>([...extraRoots, ...(await objects.pins.live(now, referenced))]);
    const plan = planGc(manifests, all).filter((d) => !protectedSet.has(d));
    for (const d of plan) await objects.delete(d);
    return { deleted: plan, keptRevisions: [...new Set(keep)].sort((a, b) => a - b) };
  });
}

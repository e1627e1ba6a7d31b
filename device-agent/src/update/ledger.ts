// The committed revision pointer and the set of revisions that failed on this device. Both are
// small files replaced atomically, separate from the journal: a corrupt journal must never lose
// what is committed (that is what recovery goes back to) nor which revisions failed.
import { z } from 'zod';
import type { DurableFiles, Slot } from './ports.js';
import type { InstalledSystem } from './revision.js';

export const CURRENT_FILE = 'current';
export const FAILED_FILE = 'failed-revisions.json';
const HISTORY = 10;

export const CommittedEntry = z.object({
  revision: z.string().min(1),
  releaseDigest: z.string(),
  version: z.string(),
  sequence: z.number().int().positive(),
  configVersion: z.number().int().nonnegative(),
});
export type CommittedEntry = z.infer<typeof CommittedEntry>;

/** `current`: the committed revision, the slot it boots from, and earlier commits (newest first). */
export const Current = z.object({
  spec: z.literal('fleet-current@1'),
  committed: CommittedEntry,
  slot: z.enum(['A', 'B']).optional(),
  /** Digests of the kernel, dtb and rootfs the committed slot runs (absent: never updated). */
  system: z
    .object({ kernel: z.string().optional(), dtb: z.string().optional(), rootfs: z.string().optional() })
    .optional(),
  history: z.array(CommittedEntry).max(HISTORY),
});
export type Current = z.infer<typeof Current>;

export const FailedSet = z.object({
  spec: z.literal('fleet-failed@1'),
  keys: z.array(z.string()).max(1000),
});

export class Ledger {
  constructor(private readonly files: DurableFiles) {}

  /**
   * The committed revision. A `current` that cannot be read is an error, never "nothing
   * committed": treating it as a fresh device would accept any sequence (anti-rollback) and
   * stop the running revision.
   */
  async current(): Promise<Current | null> {
    const bytes = await this.files.read(CURRENT_FILE);
    if (bytes === null) return null;
    return Current.parse(JSON.parse(bytes.toString('utf8')));
  }

  /**
   * The commit point of an update: one rename(2) of a fully written, fsynced temp file over
   * `current` (then an fsync of the directory). Before it the old revision is committed,
   * after it the new one; there is no in-between a power cut could expose.
   */
  async commit(entry: CommittedEntry, slot: Slot | undefined, system?: InstalledSystem): Promise<Current> {
    const prev = await this.current();
    const history = prev
      ? [prev.committed, ...prev.history].filter((h) => h.revision !== entry.revision).slice(0, HISTORY)
      : [];
    const sys =
      system && Object.values(system).some((d) => d !== undefined)
        ? { system: Object.fromEntries(Object.entries(system).filter(([, d]) => d !== undefined)) }
        : {};
    const next: Current = {
      spec: 'fleet-current@1',
      committed: entry,
      ...(slot ? { slot } : {}),
      ...sys,
      history,
    };
    await this.files.writeAtomic(CURRENT_FILE, `${JSON.stringify(next, null, 1)}\n`);
    return next;
  }

  async failed(): Promise<Set<string>> {
    const bytes = await this.files.read(FAILED_FILE);
    if (bytes === null) return new Set();
    try {
      return new Set(FailedSet.parse(JSON.parse(bytes.toString('utf8'))).keys);
    } catch {
      // A damaged failed set only weakens "never retry": the hub also knows the failed
      // revisions (Report.failedRevisions) and does not send them again unless forced.
      return new Set();
    }
  }

  async markFailed(key: string): Promise<void> {
    const keys = await this.failed();
    if (keys.has(key)) return;
    const list = [...keys, key].slice(-1000);
    await this.files.writeAtomic(FAILED_FILE, `${JSON.stringify({ spec: 'fleet-failed@1', keys: list })}\n`);
  }

  /** The release digests that failed here, for `Report.failedRevisions` (config-only keys left out). */
  async failedReleases(): Promise<string[]> {
    return [...(await this.failed())].filter((k) => /^sha256:[0-9a-f]{64}$/.test(k));
  }

  /** A forced install that succeeds clears the revision from the failed set. */
  async clearFailed(key: string): Promise<void> {
    const keys = await this.failed();
    if (!keys.delete(key)) return;
    await this.files.writeAtomic(
      FAILED_FILE,
      `${JSON.stringify({ spec: 'fleet-failed@1', keys: [...keys] })}\n`,
    );
  }
}

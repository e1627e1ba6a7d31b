import { ReasonCode, RevisionRef, Target, UpdateState } from '@fleet/protocol';
import { z } from 'zod';
import type { DurableFiles } from './ports.js';

export const JOURNAL_FILE = 'journal.json';

const SlotName = z.enum(['A', 'B']);

/** Why the update is being rolled back (set when rolling-back is entered, kept until idle). */
export const Failure = z.object({
  reason: ReasonCode,
  message: z.string(),
  failedBootLog: z.string().optional(),
});
export type Failure = z.infer<typeof Failure>;

export const JournalUpdate = z.object({
  target: Target,
  /** What the failed set and duplicate checks key on (release digest, plus config for config-only updates). */
  key: z.string().min(1),
  revision: RevisionRef,
  /** Revision id being installed. */
  to: z.string().min(1),
  /** Committed revision id when the update started (null on a fresh device). */
  from: z.string().min(1).nullable(),
  kind: z.enum(['app', 'system']),
  fromSlot: SlotName.optional(),
  toSlot: SlotName.optional(),
  /** Epoch ms when an app's update lock first deferred the install (max deferral counts from it). */
  deferredSince: z.number().int().nonnegative().optional(),
  failure: Failure.optional(),
});
export type JournalUpdate = z.infer<typeof JournalUpdate>;

export const LastOutcome = z.object({
  updateId: z.string(),
  revision: RevisionRef,
  status: z.enum(['succeeded', 'failed', 'rolled-back']),
  reason: ReasonCode.optional(),
  message: z.string().optional(),
  failedBootLog: z.string().optional(),
  /** False until handed to link/: a restart between persisting and sending sends it again. */
  reported: z.boolean(),
});
export type LastOutcome = z.infer<typeof LastOutcome>;

/** The update engine's journal (`journal.json` in the storage dir). Persisted literals are API. */
export const Journal = z.object({
  spec: z.literal('fleet-update-journal@1'),
  state: UpdateState,
  /** Increases at every write: shows in a test which write a crash cut. */
  writes: z.number().int().nonnegative(),
  update: JournalUpdate.nullable(),
  /** Loop guard: how many times each state was resumed after a restart, for this update. */
  resumes: z.partialRecord(UpdateState, z.number().int().nonnegative()),
  lastOutcome: LastOutcome.optional(),
  /** Set while rolling back without an update (the journal was unreadable): why. */
  recovery: Failure.optional(),
});
export type Journal = z.infer<typeof Journal>;

export const idleJournal = (prev?: Pick<Journal, 'writes' | 'lastOutcome'>): Journal => ({
  spec: 'fleet-update-journal@1',
  state: 'idle',
  writes: prev?.writes ?? 0,
  update: null,
  resumes: {},
  ...(prev?.lastOutcome ? { lastOutcome: prev.lastOutcome } : {}),
});

export type JournalRead = { ok: true; journal: Journal } | { ok: false; error: string };

/** Reads the journal; a missing file is a fresh idle device, an unreadable one is reported. */
export async function readJournal(files: DurableFiles): Promise<JournalRead> {
  const bytes = await files.read(JOURNAL_FILE);
  if (bytes === null) return { ok: true, journal: idleJournal() };
  let json: unknown;
  try {
    json = JSON.parse(bytes.toString('utf8'));
  } catch (e) {
    return { ok: false, error: `journal is not JSON (${bytes.length} bytes): ${(e as Error).message}` };
  }
  const parsed = Journal.safeParse(json);
  if (!parsed.success) {
    return {
      ok: false,
      error: `journal does not match its schema: ${parsed.error.issues.map((i) => `$.${i.path.join('.')}: ${i.message}`).join('; ')}`,
    };
  }
  return { ok: true, journal: parsed.data };
}

export async function writeJournal(files: DurableFiles, journal: Journal): Promise<Journal> {
  const next = { ...journal, writes: journal.writes + 1 };
  await files.writeAtomic(JOURNAL_FILE, `${JSON.stringify(next, null, 1)}\n`);
  return next;
}

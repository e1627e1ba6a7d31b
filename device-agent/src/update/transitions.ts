// The update state machine as a table (CONVENTIONS 6, after Mender's state_machine.cpp): each
// state's handler returns an event; this file is the only place that turns (state, event) into
// the next state. The states are protocol's UpdateState: persisted literals, never renamed.
import type { ReasonCode, ReportedStatus, UpdateState } from '@fleet/protocol';

export const TRANSITIONS = {
  idle: { start: 'downloading' },
  downloading: { downloaded: 'verifying', refused: 'idle', failed: 'idle', superseded: 'idle' },
  verifying: { verified: 'waiting', refused: 'idle', superseded: 'idle' },
  waiting: { 'install-now': 'installing', superseded: 'idle' },
  installing: { 'app-installed': 'testing', 'slot-armed': 'rebooting', failed: 'rolling-back' },
  rebooting: { 'booted-new': 'testing', 'boot-failed': 'rolling-back' },
  testing: { healthy: 'committing', unhealthy: 'rolling-back' },
  committing: { committed: 'idle' },
  'rolling-back': { 'rolled-back': 'idle', 'reboot-required': 'rollback-rebooting', failed: 'idle' },
  'rollback-rebooting': { rebooted: 'rolling-back' },
} as const satisfies { [S in UpdateState]: Record<string, UpdateState> };

type Table = typeof TRANSITIONS;

/** The events a handler of state S may return: anything else does not compile. */
export type EventOf<S extends UpdateState> = keyof Table[S] & string;

export interface Outcome<S extends UpdateState> {
  readonly event: EventOf<S>;
  readonly reason?: ReasonCode;
  readonly message?: string;
}

export function nextState<S extends UpdateState>(state: S, event: EventOf<S>): UpdateState {
  const row: Record<string, UpdateState> = TRANSITIONS[state];
  const next = row[event];
  if (next === undefined) throw new Error(`no transition from ${state} on ${event}`);
  return next;
}

/**
 * Where to continue after the agent restarted (crash, power cut, planned reboot) with the
 * journal in a state. The journal is written before a state is entered, so "in S" means "S may
 * have done any part of its work".
 */
export const RESUME: { readonly [S in UpdateState]: UpdateState } = {
  // Nothing in flight. Startup still reconciles the containers to the committed revision, which
  // removes instances a crash left behind.
  idle: 'idle',
  // Downloads only add verified objects to the store; the downloader resumes with Range.
  downloading: 'downloading',
  // A pure check of the manifest and of objects already in the store: repeatable.
  verifying: 'verifying',
  // Nothing was touched yet; the deferral start is in the journal, so a restart does not
  // extend the maximum deferral.
  waiting: 'waiting',
  // A half-applied plan has no known-good point; the committed revision has one. Its stopped
  // instances are still defined, so going back is a restart of them.
  installing: 'rolling-back',
  // Either the reboot happened or it did not: the handler asks BootControl.verifyBoot (booted
  // the new slot → testing; still armed → reboot again; fell back → roll back).
  rebooting: 'rebooting',
  // After a reboot into the new slot (or an agent crash during the bake) the handler verifies
  // the boot first (a fallback means boot-failed), then re-applies the plan (idempotent) and
  // restarts the bake from zero. Repeated crashes here trip the loop guard.
  testing: 'testing',
  // Every step of a commit is idempotent (BootControl.commit, the atomic `current` write,
  // removing stopped old instances): doing it again finishes it.
  committing: 'committing',
  // Rolling back is idempotent too: plan from what runs to the committed revision.
  'rolling-back': 'rolling-back',
  // The handler checks whether the reboot into the old slot happened; if not it reboots again.
  'rollback-rebooting': 'rollback-rebooting',
};

/**
 * Loop guard: how often a state may be resumed (entered again after a restart) within one
 * update before the engine stops trying it, and where it goes instead. Counters are persisted
 * in the journal, so a crash loop (an agent that dies in the same state at every start) ends.
 */
export const MAX_RESUMES = 3;
export const ON_RESUME_LIMIT: { readonly [S in UpdateState]: UpdateState } = {
  idle: 'idle',
  // Before installing nothing changed on the device: give up the update, stay on current.
  downloading: 'idle',
  verifying: 'idle',
  waiting: 'idle',
  installing: 'rolling-back',
  rebooting: 'rolling-back',
  testing: 'rolling-back',
  // A commit that keeps dying halfway is not trusted either; the rollback handler knows how far
  // the commit got from the `current` pointer.
  committing: 'rolling-back',
  // The way back itself keeps failing: stop and report; the device keeps what runs and the
  // next start reconciles to the committed revision again.
  'rolling-back': 'idle',
  'rollback-rebooting': 'idle',
};

/** Terminal result reported when an update reaches idle, by the event that got it there. */
export function terminalStatus(
  from: UpdateState,
  event: string,
): Extract<ReportedStatus, 'succeeded' | 'failed' | 'rolled-back'> {
  if (from === 'committing' && event === 'committed') return 'succeeded';
  if (from === 'rolling-back' && event === 'rolled-back') return 'rolled-back';
  return 'failed';
}

/** States from which a newer target may take over (nothing on the device changed yet). */
export const SUPERSEDABLE: ReadonlySet<UpdateState> = new Set(['downloading', 'verifying', 'waiting']);

/** Percent shown for a state when there is no finer measure (downloading has bytes). */
export const STATE_PERCENT: { readonly [S in UpdateState]: number } = {
  idle: 100,
  downloading: 0,
  verifying: 50,
  waiting: 55,
  installing: 60,
  rebooting: 75,
  testing: 85,
  committing: 95,
  'rolling-back': 90,
  'rollback-rebooting': 95,
};

// The rollout engine's rules as data and pure functions: state tables, phase sizes, the
// threshold decision and the mapping of device progress onto rollout device states. No I/O:
// the engine (rollout.engine.ts) reads the facts from Postgres, asks these functions, writes.
import {
  FAILED_ROLLOUT_DEVICE_STATES,
  type ReportedStatus,
  type RolloutDeviceState,
  type RolloutState,
} from '@fleet/protocol';
import { z } from 'zod';

// ---- states (persisted literals: never renamed, only added; protocol's, decision 0004) ----

export {
  ROLLOUT_DEVICE_STATES as DEVICE_STATES,
  ROLLOUT_STATES,
  RolloutDeviceState,
  RolloutState,
} from '@fleet/protocol';

/**
 * Allowed rollout transitions. `completed` and `aborted` can still be rolled back (the operator
 * finds a problem after the fact); `rolled-back` is final.
 */
export const ROLLOUT_TRANSITIONS: Readonly<Record<RolloutState, readonly RolloutState[]>> = {
  running: ['paused', 'completed', 'aborted', 'rolled-back'],
  paused: ['running', 'aborted', 'rolled-back'],
  completed: ['rolled-back'],
  aborted: ['rolled-back'],
  'rolled-back': [],
};

/**
 * Allowed device transitions. Progress can skip states (a device that already held every object
 * goes from dispatched straight to installing; a lost message skips one). `timed-out` is not
 * final: a slow device that reports later is counted for what it did. `succeeded → failed` and
 * `succeeded → rolled-back` are the hub-side health gate during the phase's bake (crash loop;
 * fell back);
 * `dispatched → pending` is an abort that withdrew a target the device had not started.
 */
export const DEVICE_TRANSITIONS: Readonly<Record<RolloutDeviceState, readonly RolloutDeviceState[]>> = {
  pending: ['dispatched', 'failed'],
  dispatched: [
    'pending',
    'downloading',
    'installing',
    'testing',
    'succeeded',
    'failed',
    'rolled-back',
    'timed-out',
  ],
  downloading: ['installing', 'testing', 'succeeded', 'failed', 'rolled-back', 'timed-out'],
  installing: ['testing', 'succeeded', 'failed', 'rolled-back', 'timed-out'],
  testing: ['succeeded', 'failed', 'rolled-back', 'timed-out'],
  succeeded: ['failed', 'rolled-back'],
  failed: ['rolled-back'],
  'timed-out': ['downloading', 'installing', 'testing', 'succeeded', 'failed', 'rolled-back'],
  'rolled-back': [],
};

/** The operator actions and the rollout states each one may start from. */
export const ROLLOUT_ACTIONS = {
  pause: { to: 'paused' },
  resume: { to: 'running' },
  abort: { to: 'aborted' },
  rollback: { to: 'rolled-back' },
} as const satisfies Record<string, { to: RolloutState }>;
export type RolloutAction = keyof typeof ROLLOUT_ACTIONS;

export function canRollout(from: RolloutState, to: RolloutState): boolean {
  return ROLLOUT_TRANSITIONS[from].includes(to);
}

export function canDevice(from: RolloutDeviceState, to: RolloutDeviceState): boolean {
  return DEVICE_TRANSITIONS[from].includes(to);
}

/** The target was sent and the device has not finished with it. */
export const IN_FLIGHT: readonly RolloutDeviceState[] = [
  'dispatched',
  'downloading',
  'installing',
  'testing',
];
/** Counted against the parallel download cap: the device may be fetching objects. */
export const DOWNLOADING: readonly RolloutDeviceState[] = ['dispatched', 'downloading'];
/**
 * The outcomes that count against `maxFailurePercent`, kept apart in counts and reasons:
 * `failed` the device did not take the release, or runs it badly, and did not go back (refused,
 * download or install failed, the hub's health gate saw crash-looping or unhealthy containers);
 * `rolled-back` the device tried the release and is back on the one it ran before (its own
 * health gate or boot failed, or an operator rollback); `timed-out` nothing heard for the deadline.
 */
export const FAILURE_STATES = FAILED_ROLLOUT_DEVICE_STATES;
export type FailureState = (typeof FAILURE_STATES)[number];
export const FAILURES: readonly RolloutDeviceState[] = FAILURE_STATES;
export const TERMINAL: readonly RolloutDeviceState[] = ['succeeded', ...FAILURES];

/** What a device's reported update status means for its rollout device state. */
export const STATUS_TO_DEVICE_STATE: Readonly<Record<ReportedStatus, RolloutDeviceState>> = {
  downloading: 'downloading',
  downloaded: 'downloading',
  // Waiting for its maintenance window with every object downloaded.
  deferred: 'downloading',
  installing: 'installing',
  rebooting: 'installing',
  testing: 'testing',
  succeeded: 'succeeded',
  failed: 'failed',
  'rolled-back': 'rolled-back',
};

/** The next device state for a fact, or null when the fact does not move it (stale, repeated). */
export function nextDeviceState(from: RolloutDeviceState, to: RolloutDeviceState): RolloutDeviceState | null {
  if (from === to) return null;
  return canDevice(from, to) ? to : null;
}

// ---- phases ----

export const Phase = z.union([
  z.strictObject({
    count: z.number().int().positive(),
    bakeSeconds: z
      .number()
      .int()
      .nonnegative()
      .max(7 * 86_400),
  }),
  z.strictObject({
    percent: z.number().positive().max(100),
    bakeSeconds: z
      .number()
      .int()
      .nonnegative()
      .max(7 * 86_400),
  }),
]);
export type Phase = z.infer<typeof Phase>;

/**
 * Cumulative device counts at the end of each phase for `total` targeted devices. A phase is
 * "up to N devices" or "up to P% of the target" in total (not per phase), rounded up so that a
 * small percent of a small fleet still means one device; the last phase always takes everyone
 * left. A phase never shrinks below the previous one.
 */
export function phaseBoundaries(phases: readonly Phase[], total: number): number[] {
  const out: number[] = [];
  let prev = 0;
  phases.forEach((p, i) => {
    const want = 'count' in p ? p.count : Math.ceil((p.percent * total) / 100 - 1e-9);
    const end = i === phases.length - 1 ? total : Math.min(total, Math.max(prev, want));
    out.push(end);
    prev = end;
  });
  return out;
}

/** Phase index of each of `total` devices, in order. */
export function assignPhases(phases: readonly Phase[], total: number): number[] {
  const bounds = phaseBoundaries(phases, total);
  const out: number[] = [];
  let phase = 0;
  for (let i = 0; i < total; i++) {
    while (phase < bounds.length - 1 && i >= (bounds[phase] ?? 0)) phase++;
    out.push(phase);
  }
  return out;
}

/**
 * Parses the CLI/YAML phase list `1,10%,50%,100%` with one bake time for every phase.
 * Returns an error message naming the bad item instead of throwing.
 */
export function parsePhaseList(
  text: string,
  bakeSeconds: number,
): { ok: true; value: Phase[] } | { ok: false; error: string } {
  const items = text.split(',').map((s) => s.trim());
  const out: Phase[] = [];
  for (const [i, item] of items.entries()) {
    const pct = /^(\d+(?:\.\d+)?)%$/.exec(item);
    if (pct) {
      const percent = Number(pct[1]);
      if (!(percent > 0 && percent <= 100))
        return { ok: false, error: `phase ${i + 1} "${item}": a percent must be in (0, 100]` };
      out.push({ percent, bakeSeconds });
    } else if (/^\d+$/.test(item) && Number(item) > 0) {
      out.push({ count: Number(item), bakeSeconds });
    } else {
      return { ok: false, error: `phase ${i + 1} "${item}": expected a device count (5) or a percent (10%)` };
    }
  }
  return { ok: true, value: out };
}

// ---- the phase decision ----

export interface PhaseCounts {
  /** Devices in phases up to and including the current one. */
  total: number;
  pending: number;
  inFlight: number;
  succeeded: number;
  /** Devices in any of FAILURE_STATES; `byFailure` says which, with the same words as counts. */
  failures: number;
  byFailure: Record<FailureState, number>;
}

export interface Thresholds {
  /** Pause when failures exceed this percent of the devices targeted so far. */
  maxFailurePercent: number;
  /** A finished phase advances only with at least this percent succeeded. */
  minSuccessPercent: number;
}

export type PhaseDecision =
  | { kind: 'continue' }
  | { kind: 'pause'; reason: 'failure-threshold' | 'success-threshold'; message: string }
  | { kind: 'start-bake' }
  | { kind: 'bake' }
  | { kind: 'advance' }
  | { kind: 'complete' };

export function countPhase(states: readonly RolloutDeviceState[]): PhaseCounts {
  const c: PhaseCounts = {
    total: states.length,
    pending: 0,
    inFlight: 0,
    succeeded: 0,
    failures: 0,
    byFailure: { failed: 0, 'rolled-back': 0, 'timed-out': 0 },
  };
  for (const s of states) {
    if (s === 'pending') c.pending++;
    else if (IN_FLIGHT.includes(s)) c.inFlight++;
    else if (s === 'succeeded') c.succeeded++;
    else {
      c.failures++;
      c.byFailure[s as FailureState]++;
    }
  }
  return c;
}

/**
 * "1 rolled-back", "3 failed, rolled-back or timed-out (…: 1 failed, 1 rolled-back, 1
 * timed-out)": the pause reason names the device states exactly as the rollout's counts do, so
 * an operator never reads "failed" for devices counted `rolled-back`.
 */
function describeFailures(c: PhaseCounts): { what: string; detail: string } {
  const kinds = FAILURE_STATES.filter((k) => c.byFailure[k] > 0);
  const what =
    kinds.length <= 1 ? (kinds[0] ?? 'failed') : `${kinds.slice(0, -1).join(', ')} or ${kinds.at(-1)!}`;
  const detail = kinds.length <= 1 ? '' : `: ${kinds.map((k) => `${c.byFailure[k]} ${k}`).join(', ')}`;
  return { what, detail };
}

/**
 * What a running rollout does next. Failures are judged first and at any time (the canary
 * principle: a phase of one device that fails pauses everything); `acknowledgedFailures` are the
 * failures an operator has seen and resumed past. A phase is done when none of its devices is
 * pending or in flight; then it must reach the success threshold, then hold for its bake time.
 */
export function decidePhase(input: {
  counts: PhaseCounts;
  thresholds: Thresholds;
  acknowledgedFailures: number;
  isLastPhase: boolean;
  bakeSeconds: number;
  bakeStartedAt: Date | null;
  now: Date;
}): PhaseDecision {
  const { counts, thresholds } = input;
  const fresh = Math.max(0, counts.failures - input.acknowledgedFailures);
  if (counts.total > 0 && (fresh * 100) / counts.total > thresholds.maxFailurePercent) {
    const { what, detail } = describeFailures(counts);
    return {
      kind: 'pause',
      reason: 'failure-threshold',
      message: `${counts.failures} of ${counts.total} devices ${what} (${fmtPct((counts.failures * 100) / counts.total)}${detail}), above the ${thresholds.maxFailurePercent}% allowed`,
    };
  }
  if (counts.pending > 0 || counts.inFlight > 0) return { kind: 'continue' };
  const success = counts.total === 0 ? 100 : (counts.succeeded * 100) / counts.total;
  if (success < thresholds.minSuccessPercent) {
    return {
      kind: 'pause',
      reason: 'success-threshold',
      message: `only ${counts.succeeded} of ${counts.total} devices succeeded (${fmtPct(success)}), ${thresholds.minSuccessPercent}% needed to advance`,
    };
  }
  if (!input.bakeStartedAt)
    return input.bakeSeconds > 0
      ? { kind: 'start-bake' }
      : input.isLastPhase
        ? { kind: 'complete' }
        : { kind: 'advance' };
  if (input.now.getTime() - input.bakeStartedAt.getTime() < input.bakeSeconds * 1000) return { kind: 'bake' };
  return input.isLastPhase ? { kind: 'complete' } : { kind: 'advance' };
}

function fmtPct(n: number): string {
  return `${Math.round(n * 10) / 10}%`;
}

/** How many more targets may go out now under the parallel download cap. */
export function dispatchBudget(maxParallel: number, downloading: number): number {
  return Math.max(0, maxParallel - downloading);
}

/**
 * Is a device stuck? The deadline runs from the last sign of progress: the dispatch, the last
 * progress message for this update. An offline device past the deadline is stuck as well (its
 * retained target waits for it, but the rollout should not).
 */
export function isStuck(input: { lastActivityAt: Date; deadlineSeconds: number; now: Date }): boolean {
  return input.now.getTime() - input.lastActivityAt.getTime() > input.deadlineSeconds * 1000;
}

/** Containers states that fail the hub-side health gate after an update. */
export const UNHEALTHY_CONTAINER_STATES: readonly string[] = ['crash-loop', 'unhealthy'];

/**
 * The hub-side health check of a device that reported success, during its phase's bake (a
 * device that fell back is `rolled-back`, one running the release badly `failed`). It judges
 * only on evidence: a report of the release with a container in crash loop or unhealthy,
 * or the release among the device's failed revisions (it fell back). A device whose report still
 * shows another revision has not reported since its commit: `unknown`, judged at a later step.
 */
export function healthVerdict(input: {
  releaseDigest: string;
  currentDigest: string | null;
  failedRevisions: readonly string[];
  containerStates: readonly string[];
}):
  | { verdict: 'healthy' }
  | { verdict: 'unknown' }
  | { verdict: 'unhealthy'; state: 'failed' | 'rolled-back'; reason: string } {
  if (input.failedRevisions.includes(input.releaseDigest)) {
    // It went back to another revision on its own: rolled back, as the agent would report it.
    return {
      verdict: 'unhealthy',
      state: 'rolled-back',
      reason: `the device fell back from the release (now ${input.currentDigest ?? 'none'})`,
    };
  }
  if (input.currentDigest !== input.releaseDigest) return { verdict: 'unknown' };
  const bad = input.containerStates.filter((s) => UNHEALTHY_CONTAINER_STATES.includes(s));
  if (bad.length > 0)
    return { verdict: 'unhealthy', state: 'failed', reason: `containers ${bad.join(', ')} after the update` };
  return { verdict: 'healthy' };
}

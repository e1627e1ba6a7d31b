import { describe, expect, it } from 'vitest';
import {
  assignPhases,
  canDevice,
  canRollout,
  countPhase,
  decidePhase,
  DEVICE_STATES,
  DEVICE_TRANSITIONS,
  dispatchBudget,
  healthVerdict,
  isStuck,
  nextDeviceState,
  parsePhaseList,
  phaseBoundaries,
  ROLLOUT_ACTIONS,
  ROLLOUT_STATES,
  ROLLOUT_TRANSITIONS,
  STATUS_TO_DEVICE_STATE,
  type PhaseCounts,
  type RolloutDeviceState,
} from './rollout.model.js';

// Failures are `failed` unless the test says which states they are.
const counts = (over: Partial<PhaseCounts>): PhaseCounts => ({
  total: 10,
  pending: 0,
  inFlight: 0,
  succeeded: 10,
  failures: 0,
  byFailure: { failed: over.failures ?? 0, 'rolled-back': 0, 'timed-out': 0 },
  ...over,
});
const thresholds = { maxFailurePercent: 5, minSuccessPercent: 95 };
const t0 = new Date('2026-11-30T12:00:00Z');
const decide = (over: Partial<Parameters<typeof decidePhase>[0]>) =>
  decidePhase({
    counts: counts({}),
    thresholds,
    acknowledgedFailures: 0,
    isLastPhase: false,
    bakeSeconds: 60,
    bakeStartedAt: null,
    now: t0,
    ...over,
  });

describe('phases', () => {
  it('turns 1,10%,50%,100% into cumulative device counts, rounding percents up', () => {
    const p = parsePhaseList('1,10%,50%,100%', 600);
    expect(p.ok).toBe(true);
    if (!p.ok) return;
    expect(p.value[0]).toEqual({ count: 1, bakeSeconds: 600 });
    expect(phaseBoundaries(p.value, 1000)).toEqual([1, 100, 500, 1000]);
    expect(phaseBoundaries(p.value, 7)).toEqual([1, 1, 4, 7]);
    expect(phaseBoundaries(p.value, 0)).toEqual([0, 0, 0, 0]);
  });

  it('never shrinks a phase and always ends with every device', () => {
    expect(
      phaseBoundaries(
        [
          { count: 5, bakeSeconds: 0 },
          { count: 2, bakeSeconds: 0 },
          { percent: 20, bakeSeconds: 0 },
        ],
        10,
      ),
    ).toEqual([5, 5, 10]);
    expect(
      phaseBoundaries(
        [
          { count: 50, bakeSeconds: 0 },
          { percent: 100, bakeSeconds: 0 },
        ],
        3,
      ),
    ).toEqual([3, 3]);
  });

  it('assigns each device the phase it belongs to, in order', () => {
    expect(
      assignPhases(
        [
          { count: 1, bakeSeconds: 0 },
          { percent: 50, bakeSeconds: 0 },
          { percent: 100, bakeSeconds: 0 },
        ],
        6,
      ),
    ).toEqual([0, 1, 1, 2, 2, 2]);
    expect(assignPhases([{ percent: 100, bakeSeconds: 0 }], 3)).toEqual([0, 0, 0]);
  });

  it('refuses a bad phase list naming the bad item', () => {
    expect(parsePhaseList('1,abc,100%', 0)).toEqual({
      ok: false,
      error: expect.stringContaining('phase 2 "abc"'),
    });
    expect(parsePhaseList('0', 0)).toEqual({ ok: false, error: expect.stringContaining('phase 1 "0"') });
    expect(parsePhaseList('150%', 0)).toEqual({ ok: false, error: expect.stringContaining('(0, 100]') });
    expect(parsePhaseList('', 0).ok).toBe(false);
  });
});

describe('state tables', () => {
  it('have an entry for every state and name only known states', () => {
    expect(Object.keys(ROLLOUT_TRANSITIONS).sort()).toEqual([...ROLLOUT_STATES].sort());
    expect(Object.keys(DEVICE_TRANSITIONS).sort()).toEqual([...DEVICE_STATES].sort());
    for (const tos of Object.values(DEVICE_TRANSITIONS))
      for (const t of tos) expect(DEVICE_STATES).toContain(t);
    for (const tos of Object.values(ROLLOUT_TRANSITIONS))
      for (const t of tos) expect(ROLLOUT_STATES).toContain(t);
  });

  it('lets operators act only from the states that make sense', () => {
    expect(canRollout('running', ROLLOUT_ACTIONS.pause.to)).toBe(true);
    expect(canRollout('paused', ROLLOUT_ACTIONS.pause.to)).toBe(false);
    expect(canRollout('running', ROLLOUT_ACTIONS.resume.to)).toBe(false);
    expect(canRollout('completed', ROLLOUT_ACTIONS.abort.to)).toBe(false);
    expect(canRollout('completed', ROLLOUT_ACTIONS.rollback.to)).toBe(true);
    expect(canRollout('aborted', ROLLOUT_ACTIONS.rollback.to)).toBe(true);
    expect(canRollout('rolled-back', ROLLOUT_ACTIONS.rollback.to)).toBe(false);
  });

  it('moves devices forward only: stale or repeated progress changes nothing', () => {
    expect(nextDeviceState('dispatched', 'downloading')).toBe('downloading');
    expect(nextDeviceState('installing', 'downloading')).toBeNull();
    expect(nextDeviceState('testing', 'testing')).toBeNull();
    expect(nextDeviceState('succeeded', 'installing')).toBeNull();
    expect(nextDeviceState('rolled-back', 'succeeded')).toBeNull();
    // A device that timed out and reports later is counted for what it did.
    expect(nextDeviceState('timed-out', 'succeeded')).toBe('succeeded');
    expect(canDevice('pending', 'downloading')).toBe(false);
  });

  it('maps every reported status to a device state, and a failure never reads as success', () => {
    expect(STATUS_TO_DEVICE_STATE.succeeded).toBe('succeeded');
    expect(STATUS_TO_DEVICE_STATE['rolled-back']).toBe('rolled-back');
    expect(STATUS_TO_DEVICE_STATE.failed).toBe('failed');
    expect(STATUS_TO_DEVICE_STATE.deferred).toBe('downloading');
  });

  it('counts devices by what they mean for the thresholds', () => {
    const s: RolloutDeviceState[] = [
      'pending',
      'dispatched',
      'downloading',
      'testing',
      'succeeded',
      'failed',
      'rolled-back',
      'timed-out',
    ];
    expect(countPhase(s)).toEqual({
      total: 8,
      pending: 1,
      inFlight: 3,
      succeeded: 1,
      failures: 3,
      byFailure: { failed: 1, 'rolled-back': 1, 'timed-out': 1 },
    });
  });
});

describe('decidePhase', () => {
  it('pauses as soon as failures pass the threshold, even mid-phase', () => {
    const d = decide({ counts: counts({ succeeded: 0, inFlight: 9, failures: 1 }) });
    expect(d).toMatchObject({ kind: 'pause', reason: 'failure-threshold' });
    expect(d.kind === 'pause' && d.message).toContain('1 of 10 devices failed (10%), above the 5% allowed');
  });

  it('the pause reason names the failure states as the counts do', () => {
    // A device whose own health gate failed and which went back is counted `rolled-back`: the
    // reason must not call it failed.
    const canary = decide({ counts: countPhase(['rolled-back']) });
    expect(canary.kind === 'pause' && canary.message).toBe(
      '1 of 1 devices rolled-back (100%), above the 5% allowed',
    );
    const mixed = decide({
      counts: countPhase([
        'rolled-back',
        'failed',
        'timed-out',
        'timed-out',
        ...Array<'succeeded'>(6).fill('succeeded'),
      ]),
    });
    expect(mixed.kind === 'pause' && mixed.message).toBe(
      '4 of 10 devices failed, rolled-back or timed-out (40%: 1 failed, 1 rolled-back, 2 timed-out), above the 5% allowed',
    );
  });

  it('a canary of one that fails pauses the rollout', () => {
    expect(decide({ counts: counts({ total: 1, succeeded: 0, failures: 1 }) }).kind).toBe('pause');
  });

  it('failures exactly at the threshold do not pause', () => {
    expect(
      decide({
        counts: counts({ total: 20, succeeded: 19, failures: 1 }),
        thresholds: { maxFailurePercent: 5, minSuccessPercent: 90 },
      }).kind,
    ).toBe('start-bake');
  });

  it('failures the operator resumed past no longer count', () => {
    expect(
      decide({ counts: counts({ succeeded: 0, inFlight: 9, failures: 1 }), acknowledgedFailures: 1 }).kind,
    ).toBe('continue');
  });

  it('waits while devices are pending or in flight', () => {
    expect(decide({ counts: counts({ succeeded: 5, pending: 5 }) }).kind).toBe('continue');
    expect(decide({ counts: counts({ succeeded: 5, inFlight: 5 }) }).kind).toBe('continue');
  });

  it('a finished phase below the success threshold pauses', () => {
    const d = decide({
      counts: counts({ succeeded: 9, failures: 1 }),
      thresholds: { maxFailurePercent: 50, minSuccessPercent: 95 },
    });
    expect(d).toMatchObject({ kind: 'pause', reason: 'success-threshold' });
  });

  it('bakes, then advances, and completes after the last phase', () => {
    expect(decide({}).kind).toBe('start-bake');
    expect(decide({ bakeStartedAt: new Date(t0.getTime() - 59_000) }).kind).toBe('bake');
    expect(decide({ bakeStartedAt: new Date(t0.getTime() - 60_000) }).kind).toBe('advance');
    expect(decide({ bakeStartedAt: new Date(t0.getTime() - 60_000), isLastPhase: true }).kind).toBe(
      'complete',
    );
    expect(decide({ bakeSeconds: 0 }).kind).toBe('advance');
    expect(decide({ bakeSeconds: 0, isLastPhase: true }).kind).toBe('complete');
  });

  it('an empty phase passes straight through', () => {
    expect(decide({ counts: counts({ total: 0, succeeded: 0 }), bakeSeconds: 0 }).kind).toBe('advance');
  });
});

describe('dispatch cap, deadlines, health', () => {
  it('never dispatches beyond the parallel download cap', () => {
    expect(dispatchBudget(10, 3)).toBe(7);
    expect(dispatchBudget(10, 12)).toBe(0);
  });

  it('a device is stuck only after the deadline since its last progress', () => {
    expect(isStuck({ lastActivityAt: new Date(t0.getTime() - 60_000), deadlineSeconds: 60, now: t0 })).toBe(
      false,
    );
    expect(isStuck({ lastActivityAt: new Date(t0.getTime() - 60_001), deadlineSeconds: 60, now: t0 })).toBe(
      true,
    );
  });

  it('a device that fell back (rolled-back) or crash-loops (failed) after success fails the health gate; one not yet reported is not judged', () => {
    const v = (over: Partial<Parameters<typeof healthVerdict>[0]>) =>
      healthVerdict({
        releaseDigest: 'sha256:a',
        currentDigest: 'sha256:a',
        failedRevisions: [],
        containerStates: ['running', 'ready'],
        ...over,
      });
    expect(v({})).toEqual({ verdict: 'healthy' });
    expect(v({ currentDigest: 'sha256:b' })).toEqual({ verdict: 'unknown' });
    expect(v({ currentDigest: null })).toEqual({ verdict: 'unknown' });
    // Fell back: it runs its previous revision again, so it is rolled back, not failed.
    expect(v({ currentDigest: 'sha256:b', failedRevisions: ['sha256:a'] })).toMatchObject({
      verdict: 'unhealthy',
      state: 'rolled-back',
      reason: expect.stringContaining('fell back'),
    });
    expect(v({ containerStates: ['crash-loop'] })).toMatchObject({
      verdict: 'unhealthy',
      state: 'failed',
      reason: expect.stringContaining('crash-loop'),
    });
  });
});

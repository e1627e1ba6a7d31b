import {
  manifestDigest,
  parseReleaseManifest,
  Target,
  type Digest,
  type ReleaseManifest,
} from '@fleet/protocol';
import { aContainer, aRelease, hexDigest } from '@fleet/protocol/testing';
import { describe, expect, it } from 'vitest';
import { seededRng } from './rng.js';
import { DEFAULT_BEHAVIOUR, planUpdate, type DeviceUpdateView } from './update-plan.js';

function release(over: Parameters<typeof aRelease>[0] = {}): ReleaseManifest {
  const r = parseReleaseManifest(
    aRelease({
      sequence: 5,
      containers: {
        web: aContainer({ rootfs: { digest: hexDigest('b'), size: 4000 } }),
        db: aContainer({ rootfs: { digest: hexDigest('c'), size: 6000 } }),
      },
      ...over,
    }),
  );
  if (!r.ok) throw r.error;
  return r.value;
}
const target = (over: Partial<Target> = {}): Target =>
  Target.parse({ updateId: 'u1', release: release(), objectBaseUrl: 'http://h/o', ...over });
const device = (over: Partial<DeviceUpdateView> = {}): DeviceUpdateView => ({
  revision: null,
  committed: new Map(),
  objects: new Set(),
  failedRevisions: new Set(),
  board: 'qemu-aarch64',
  ...over,
});

describe('planUpdate', () => {
  it('downloads only missing objects and walks the states a real agent reports, ending succeeded', () => {
    const plan = planUpdate(
      device({ objects: new Set<Digest>([hexDigest('b')]) }),
      target(),
      DEFAULT_BEHAVIOUR,
      seededRng(1),
    );
    expect(plan.outcome).toBe('succeeded');
    expect(plan.download).toEqual({ digests: [hexDigest('c')], bytes: 6000 });
    const states = plan.steps.map((s) => `${s.progress.state}/${s.progress.status}`);
    expect(states[0]).toBe('downloading/downloading');
    expect(states.slice(-5)).toEqual([
      'verifying/downloaded',
      'installing/installing',
      'testing/testing',
      'committing/testing',
      'idle/succeeded',
    ]);
    const percents = plan.steps.map((s) => s.progress.percent);
    expect([...percents].sort((a, b) => a - b)).toEqual(percents);
  });

  it('rolls back with a reason at the failure rate, deterministically for a seed', () => {
    const outcomes = (seed: number) =>
      Array.from(
        { length: 1000 },
        (_, i) =>
          planUpdate(
            device(),
            target(),
            { ...DEFAULT_BEHAVIOUR, failureRate: 0.2 },
            seededRng(seed * 7919 + i),
          ).outcome,
      );
    const a = outcomes(1);
    expect(outcomes(1)).toEqual(a);
    const failed = a.filter((o) => o === 'rolled-back').length;
    expect(failed).toBeGreaterThan(150);
    expect(failed).toBeLessThan(250);
    const rolled = planUpdate(device(), target(), { ...DEFAULT_BEHAVIOUR, failureRate: 1 }, seededRng(3));
    expect(rolled.steps.at(-1)?.progress).toMatchObject({
      status: 'rolled-back',
      reason: 'health-check-failed',
    });
    // 2000 plans: ~0.5 s alone, 7.5 s on the shared 2 cores at load 25 (over the 5 s default).
  }, 60_000);

  it('goes silent mid-download at the timeout rate', () => {
    const plan = planUpdate(device(), target(), { ...DEFAULT_BEHAVIOUR, timeoutRate: 1 }, seededRng(2));
    expect(plan.outcome).toBe('silent');
    expect(plan.steps.every((s) => s.progress.state === 'downloading')).toBe(true);
  });

  it('refuses a revision that failed here before unless forced', () => {
    const digest = manifestDigest(release());
    const failedBefore = device({ failedRevisions: new Set([digest]) });
    expect(planUpdate(failedBefore, target(), DEFAULT_BEHAVIOUR, seededRng(1))).toMatchObject({
      outcome: 'refused',
      reason: 'revision-failed-before',
    });
    expect(planUpdate(failedBefore, target({ force: true }), DEFAULT_BEHAVIOUR, seededRng(1)).outcome).toBe(
      'succeeded',
    );
  });

  it('refuses another board and an older sequence, and ignores the revision it runs', () => {
    expect(
      planUpdate(device({ board: 'raspberrypi4-64' }), target(), DEFAULT_BEHAVIOUR, seededRng(1)),
    ).toMatchObject({ outcome: 'refused', reason: 'board-mismatch' });
    const newer = { digest: hexDigest('9'), version: '2.0.0', sequence: 9 };
    expect(planUpdate(device({ revision: newer }), target(), DEFAULT_BEHAVIOUR, seededRng(1))).toMatchObject({
      outcome: 'refused',
      reason: 'sequence-not-newer',
    });
    const current = { digest: manifestDigest(release()), version: '1.0.0', sequence: 5 };
    // Going back to a revision committed here before is an operator's rollback, not a replay.
    expect(
      planUpdate(
        device({ revision: newer, committed: new Map([[current.digest, current]]) }),
        target(),
        DEFAULT_BEHAVIOUR,
        seededRng(1),
      ).outcome,
    ).toBe('succeeded');
    expect(planUpdate(device({ revision: current }), target(), DEFAULT_BEHAVIOUR, seededRng(1)).outcome).toBe(
      'already-current',
    );
  });
});

import { describe, expect, it } from 'vitest';
import {
  backoffDelay,
  decideRestart,
  initialHealth,
  nextHealth,
  planAdoption,
  startGroups,
} from './policy.js';

const opts = { stableAfterMs: 10_000, maxBackoffMs: 8_000 };
const policy = (p: 'always' | 'on-failure' | 'never', maxRetries = 3, backoffMs = 1000) => ({
  policy: p,
  maxRetries,
  backoffMs,
});

describe('backoffDelay', () => {
  it('doubles from the base and stops at the cap', () => {
    expect([1, 2, 3, 4, 5, 40].map((a) => backoffDelay(a, { baseMs: 1000, maxMs: 8000 }))).toEqual([
      1000, 2000, 4000, 8000, 8000, 8000,
    ]);
    expect(backoffDelay(0, { baseMs: 1000, maxMs: 8000 })).toBe(0);
  });
});

describe('decideRestart', () => {
  it('never restarts with policy never, whatever the exit code', () => {
    expect(decideRestart(policy('never'), 1, 5, { restarts: 0 }, opts)).toEqual({
      action: 'leave',
      state: 'exited',
    });
  });
  it('on-failure leaves a clean exit alone and restarts a failure', () => {
    expect(decideRestart(policy('on-failure'), 0, 5, { restarts: 0 }, opts)).toEqual({
      action: 'leave',
      state: 'exited',
    });
    expect(decideRestart(policy('on-failure'), 2, 5, { restarts: 0 }, opts)).toEqual({
      action: 'restart',
      attempt: 1,
      delayMs: 1000,
    });
  });
  it('always restarts a clean exit too, with growing delays', () => {
    expect(decideRestart(policy('always'), 0, 5, { restarts: 0 }, opts)).toMatchObject({
      action: 'restart',
      attempt: 1,
    });
    expect(decideRestart(policy('always'), 0, 5, { restarts: 2 }, opts)).toEqual({
      action: 'restart',
      attempt: 3,
      delayMs: 4000,
    });
  });
  it('declares a crash loop past maxRetries quick failures', () => {
    expect(decideRestart(policy('always', 3), 1, 5, { restarts: 3 }, opts)).toEqual({
      action: 'give-up',
      state: 'crash-loop',
    });
    expect(decideRestart(policy('on-failure', 0), 1, 5, { restarts: 0 }, opts)).toEqual({
      action: 'give-up',
      state: 'crash-loop',
    });
  });
  it('forgives earlier crashes after a stable run', () => {
    expect(decideRestart(policy('always', 3), 1, 10_000, { restarts: 3 }, opts)).toEqual({
      action: 'restart',
      attempt: 1,
      delayMs: 1000,
    });
  });
});

describe('nextHealth', () => {
  const check = { retries: 2, startPeriodMs: 5000 };
  it('is healthy after one pass and unhealthy after `retries` consecutive failures', () => {
    let h = nextHealth(initialHealth, true, 0, check);
    expect(h).toEqual({ status: 'healthy', consecutiveFailures: 0 });
    h = nextHealth(h, false, 6000, check);
    expect(h).toEqual({ status: 'healthy', consecutiveFailures: 1 });
    h = nextHealth(h, false, 7000, check);
    expect(h).toEqual({ status: 'unhealthy', consecutiveFailures: 2 });
    expect(nextHealth(h, true, 8000, check).status).toBe('healthy');
  });
  it('ignores failures inside the start period until the first pass', () => {
    expect(nextHealth(initialHealth, false, 1000, check)).toBe(initialHealth);
    expect(nextHealth(initialHealth, false, 5000, check)).toEqual({
      status: 'starting',
      consecutiveFailures: 1,
    });
    const healthy = nextHealth(initialHealth, true, 100, check);
    expect(nextHealth(healthy, false, 200, check).consecutiveFailures).toBe(1);
  });
});

describe('startGroups', () => {
  it('puts platform before app and skips empty groups', () => {
    expect(
      startGroups({
        web: { group: 'app' },
        net: { group: 'platform' },
        api: { group: 'app' },
        ssh: { group: 'platform' },
      }),
    ).toEqual([
      ['net', 'ssh'],
      ['api', 'web'],
    ]);
    expect(startGroups({ web: { group: 'app' } })).toEqual([['web']]);
    expect(startGroups({})).toEqual([]);
  });
});

describe('planAdoption', () => {
  it('adopts what runs unchanged, recreates the stale, removes the unwanted, creates the missing', () => {
    const plan = planAdoption(
      [
        { name: 'same', running: true, specHash: 'h1' },
        { name: 'changed', running: true, specHash: 'old' },
        { name: 'stopped', running: false, specHash: 'h3' },
        { name: 'orphan', running: true, specHash: 'x' },
      ],
      { same: 'h1', changed: 'h2', stopped: 'h3', fresh: 'h4' },
    );
    expect(plan).toEqual({
      adopt: ['same'],
      recreate: ['changed', 'stopped'],
      create: ['fresh'],
      remove: ['orphan'],
    });
  });
});

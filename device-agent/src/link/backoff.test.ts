import { describe, expect, it } from 'vitest';
import { Backoff, sleep } from './backoff.js';

describe('Backoff', () => {
  it('doubles the base up to the maximum', () => {
    const b = new Backoff({ initialMs: 100, maxMs: 1000, random: () => 0.999999 });
    const delays = Array.from({ length: 7 }, () => b.next());
    expect(delays).toEqual([100, 200, 400, 800, 1000, 1000, 1000]);
  });

  it('draws each delay from [base/2, base] (equal jitter)', () => {
    const low = new Backoff({ initialMs: 1000, maxMs: 8000, random: () => 0 });
    expect([low.next(), low.next(), low.next(), low.next(), low.next()]).toEqual([
      500, 1000, 2000, 4000, 4000,
    ]);
    const mid = new Backoff({ initialMs: 1000, maxMs: 8000, random: () => 0.5 });
    expect(mid.next()).toBe(750);
  });

  it('starts over after reset', () => {
    const b = new Backoff({ initialMs: 10, maxMs: 1000, random: () => 0.999999 });
    b.next();
    b.next();
    b.next();
    b.reset();
    expect(b.next()).toBe(10);
  });

  it('never exceeds max even after very many attempts', () => {
    const b = new Backoff({ initialMs: 1, maxMs: 50, random: () => 0.999999 });
    for (let i = 0; i < 200; i++) expect(b.next()).toBeLessThanOrEqual(50);
  });

  it('refuses nonsense parameters with a clear error', () => {
    expect(() => new Backoff({ initialMs: 0, maxMs: 10 })).toThrow(/0 < initialMs <= maxMs/);
    expect(() => new Backoff({ initialMs: 20, maxMs: 10 })).toThrow(/0 < initialMs <= maxMs/);
    expect(() => new Backoff({ initialMs: 1, maxMs: 10, factor: 0.5 })).toThrow(/factor/);
  });
});

describe('sleep', () => {
  it('rejects at once with the reason of an already aborted signal', async () => {
    await expect(sleep(10_000, AbortSignal.abort(new Error('stop now')))).rejects.toThrow('stop now');
  });

  it('rejects when the signal aborts while waiting', async () => {
    const ac = new AbortController();
    const p = sleep(10_000, ac.signal);
    ac.abort(new Error('cancelled by test'));
    await expect(p).rejects.toThrow('cancelled by test');
  });
});

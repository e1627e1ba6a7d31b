import { describe, expect, it } from 'vitest';
import { crashHookFromEnv } from './crash-points.js';
import { ExclusiveRunner } from './exclusive-runner.js';

describe('ExclusiveRunner', () => {
  it('runs one job at a time, in order, whatever the previous one did', async () => {
    const r = new ExclusiveRunner();
    const log: string[] = [];
    let release: () => void = () => {};
    const first = r.run('a', async () => {
      log.push('a start');
      await new Promise<void>((res) => (release = res));
      log.push('a end');
      throw new Error('a failed');
    });
    const second = r.run('b', async () => {
      log.push('b');
      return 2;
    });
    await new Promise((res) => setImmediate(res));
    expect(r.running).toBe('a');
    expect(log).toEqual(['a start']);
    release();
    await expect(first).rejects.toThrow('a failed');
    await expect(second).resolves.toBe(2);
    expect(log).toEqual(['a start', 'a end', 'b']);
    expect(r.running).toBeNull();
  });

  it('drops a queued job whose signal aborted before its turn', async () => {
    const r = new ExclusiveRunner();
    const ac = new AbortController();
    let ran = false;
    const blocker = r.run('a', () => new Promise((res) => setImmediate(res)));
    const dropped = r.run('b', async () => (ran = true), ac.signal);
    ac.abort(new Error('superseded'));
    await blocker;
    await expect(dropped).rejects.toThrow('superseded');
    expect(ran).toBe(false);
  });
});

describe('FLEET_CRASH_AT', () => {
  it.each([
    [undefined, 'testing', 'after', false],
    ['testing:after', 'testing', 'after', true],
    ['testing:after', 'testing', 'before', false],
    ['installing:before, testing:after', 'installing', 'before', true],
  ] as const)('%s at %s:%s kills: %s', (env, state, phase, kills) => {
    let killed = false;
    crashHookFromEnv(env, () => (killed = true))(state, phase);
    expect(killed).toBe(kills);
  });
});

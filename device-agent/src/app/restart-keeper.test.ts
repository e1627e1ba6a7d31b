import type { RestartPolicy } from '@fleet/protocol';
import { describe, expect, it } from 'vitest';
import type { ContainerRuntime, ContainerStatus } from '../runtime/container-runtime.js';
import { ExclusiveRunner } from '../update/exclusive-runner.js';
import { RestartKeeper } from './restart-keeper.js';

/** Only list/state/start are used by the keeper; the rest must not be called. */
function fakeRuntime(initial: ContainerStatus[]) {
  const containers = new Map(initial.map((c) => [c.name, c]));
  const started: string[] = [];
  const unused = () => {
    throw new Error('not used by the keeper');
  };
  const rt: ContainerRuntime = {
    list: async () => [...containers.values()],
    state: async (n) =>
      containers.get(n) ?? { name: n, state: 'absent', initPid: null, labels: {}, lastExit: null },
    start: async (n) => {
      started.push(n);
      const c = { ...(containers.get(n) as ContainerStatus), state: 'running' as const, lastExit: null };
      containers.set(n, c);
      return c;
    },
    create: unused,
    stop: unused,
    kill: unused,
    remove: unused,
    exec: unused,
    logs: unused,
  };
  const exit = (n: string, code: number) =>
    containers.set(n, { ...(containers.get(n) as ContainerStatus), state: 'stopped', lastExit: { code } });
  return { rt, started, exit };
}

const web = (revision = 'rev-1'): ContainerStatus => ({
  name: 'web-abc',
  state: 'running',
  initPid: 10,
  labels: { 'fleet.container': 'web', 'fleet.revision': revision },
  lastExit: null,
});

function keeper(
  policy: RestartPolicy,
  opts: { idle?: () => boolean; held?: boolean; revision?: string } = {},
) {
  const f = fakeRuntime([web(opts.revision)]);
  let now = 0;
  const k = new RestartKeeper({
    runtime: f.rt,
    runner: new ExclusiveRunner(),
    committed: async () => 'rev-1',
    policyOf: async () => policy,
    idle: opts.idle ?? (() => true),
    held: () => opts.held ?? false,
    log: () => {},
    onChange: () => {},
    now: () => now,
    stableAfterMs: 10_000,
    maxBackoffMs: 60_000,
  });
  return { ...f, k, advance: (ms: number) => (now += ms) };
}

describe('RestartKeeper (restart policies between updates)', () => {
  it('restarts an exited container with policy "always" after its backoff', async () => {
    const t = keeper({ policy: 'always', maxRetries: 5, backoffMs: 1000 });
    await t.k.tick();
    t.advance(500);
    t.exit('web-abc', 0);
    await t.k.tick();
    expect(t.started).toEqual([]);
    t.advance(1000);
    await t.k.tick();
    expect(t.started).toEqual(['web-abc']);
    expect(t.k.stateOf('web-abc')).toEqual({ restarts: 1, crashLoop: false });
  });

  it('leaves a clean exit alone with "on-failure", and any exit with "never"', async () => {
    for (const [policy, code] of [
      ['on-failure', 0],
      ['never', 3],
    ] as const) {
      const t = keeper({ policy, maxRetries: 5, backoffMs: 10 });
      await t.k.tick();
      t.exit('web-abc', code);
      for (let i = 0; i < 5; i++) {
        await t.k.tick();
        t.advance(1000);
      }
      expect(t.started).toEqual([]);
    }
  });

  it('gives up after maxRetries quick crashes and reports a crash loop', async () => {
    const t = keeper({ policy: 'always', maxRetries: 2, backoffMs: 10 });
    await t.k.tick();
    for (let i = 0; i < 6; i++) {
      t.exit('web-abc', 1);
      await t.k.tick();
      t.advance(100);
      await t.k.tick();
      t.advance(100);
    }
    expect(t.started).toHaveLength(2);
    expect(t.k.stateOf('web-abc').crashLoop).toBe(true);
  });

  it('does nothing while an update runs, for held containers, or for another revision', async () => {
    for (const opts of [{ idle: () => false }, { held: true }, { revision: 'rev-0' }]) {
      const t = keeper({ policy: 'always', maxRetries: 5, backoffMs: 10 }, opts);
      await t.k.tick();
      t.exit('web-abc', 1);
      for (let i = 0; i < 4; i++) {
        await t.k.tick();
        t.advance(1000);
      }
      expect(t.started).toEqual([]);
    }
  });
});

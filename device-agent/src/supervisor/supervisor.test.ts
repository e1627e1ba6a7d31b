import { ContainerSpec, type ContainerSpecInput } from '@fleet/protocol';
import { aContainer } from '@fleet/protocol/testing';
import { describe, expect, it } from 'vitest';
import type {
  ContainerRuntime,
  ContainerStatus,
  CreateRequest,
  ExecResult,
  StopResult,
} from '../runtime/container-runtime.js';
import { DEFINITION_HASH_LABEL, definitionHash, Supervisor, type DesiredContainer } from './supervisor.js';

/** In-memory ContainerRuntime recording every call; containers "run" until told otherwise. */
class FakeContainerRuntime implements ContainerRuntime {
  readonly calls: string[] = [];
  readonly containers = new Map<
    string,
    { state: ContainerStatus['state']; labels: Record<string, string>; pid: number; code?: number }
  >();
  healthy = true;
  /** Exit code each container's workload ends with on its next observation (then it "stops"). */
  readonly exits = new Map<string, number>();
  failStart = false;
  private nextPid = 100;

  async create(req: CreateRequest): Promise<void> {
    this.calls.push(`create ${req.name}`);
    this.containers.set(req.name, { state: 'stopped', labels: { ...(req.labels ?? {}) }, pid: 0 });
  }
  async start(name: string): Promise<ContainerStatus> {
    this.calls.push(`start ${name}`);
    if (this.failStart) throw new Error('no such entrypoint');
    const c = this.containers.get(name)!;
    if (c.state === 'running') throw new Error(`${name} is already running`);
    c.state = 'running';
    c.pid = this.nextPid++;
    return this.state(name);
  }
  async stop(name: string): Promise<StopResult> {
    this.calls.push(`stop ${name}`);
    const c = this.containers.get(name);
    if (c) c.state = 'stopped';
    return { graceful: true };
  }
  async kill(name: string): Promise<void> {
    await this.stop(name);
  }
  async remove(name: string): Promise<void> {
    this.calls.push(`remove ${name}`);
    this.containers.delete(name);
  }
  async state(name: string): Promise<ContainerStatus> {
    const c = this.containers.get(name);
    if (!c) return { name, state: 'absent', initPid: null, labels: {}, lastExit: null };
    const exit = this.exits.get(name);
    if (c.state === 'running' && exit !== undefined) {
      this.exits.delete(name);
      c.state = 'stopped';
      c.code = exit;
    }
    return {
      name,
      state: c.state,
      initPid: c.state === 'running' ? c.pid : null,
      labels: c.labels,
      lastExit: c.state === 'stopped' ? { code: c.code ?? 1 } : null,
    };
  }
  async exec(): Promise<ExecResult> {
    return { exitCode: this.healthy ? 0 : 1, stdout: '', stderr: '', timedOut: false };
  }
  async logs(): Promise<string> {
    return '';
  }
  async list(): Promise<ContainerStatus[]> {
    return Promise.all([...this.containers.keys()].sort().map((n) => this.state(n)));
  }
}

const desired = (name: string, over: Partial<ContainerSpecInput> = {}): DesiredContainer => ({
  name,
  spec: ContainerSpec.parse(aContainer({ start: { cmd: ['/bin/app'] }, ...over })),
  rootfs: { kind: 'dir', path: '/rootfs' },
  volumes: {},
});

describe('Supervisor with a fake runtime', () => {
  it('creates and starts platform before app', async () => {
    const rt = new FakeContainerRuntime();
    const sup = new Supervisor({ runtime: rt, pollIntervalMs: 5 });
    expect(await sup.run([desired('web', { group: 'app' }), desired('net', { group: 'platform' })])).toEqual({
      ok: true,
    });
    await sup.detach();
    expect(rt.calls).toEqual(['create web', 'create net', 'start net', 'start web']);
  });

  it('adopts an unchanged running container, recreates a changed one, removes the unwanted', async () => {
    const rt = new FakeContainerRuntime();
    const keep = desired('keep');
    const changed = desired('changed', { start: { cmd: ['/bin/v2'] } });
    rt.containers.set('keep', {
      state: 'running',
      labels: { [DEFINITION_HASH_LABEL]: definitionHash(keep) },
      pid: 7,
    });
    rt.containers.set('changed', { state: 'running', labels: { [DEFINITION_HASH_LABEL]: 'old' }, pid: 8 });
    rt.containers.set('orphan', { state: 'running', labels: {}, pid: 9 });
    const sup = new Supervisor({ runtime: rt, pollIntervalMs: 5 });
    expect(await sup.run([keep, changed])).toEqual({ ok: true });
    await sup.detach();
    expect(rt.calls).toEqual(['remove orphan', 'remove changed', 'create changed', 'start changed']);
    expect(sup.status().find((s) => s.name === 'keep')).toMatchObject({
      state: 'running',
      initPid: 7,
      reason: 'adopted',
    });
  });

  it('waits for the health check when the goal is ready, and reports it when it never passes', async () => {
    const rt = new FakeContainerRuntime();
    rt.healthy = false;
    const sup = new Supervisor({ runtime: rt, pollIntervalMs: 5, goalTimeoutMs: 300 });
    const health = { exec: ['check'], intervalMs: 100, timeoutMs: 100, retries: 1, startPeriodMs: 0 };
    const result = await sup.run([desired('api', { statusGoal: 'ready', health })]);
    await sup.detach();
    expect(result).toMatchObject({ ok: false, container: 'api', reason: 'health-check-failed' });
  });
});

const until = async (what: string, cond: () => boolean) => {
  for (let i = 0; i < 400 && !cond(); i++) await new Promise((r) => setTimeout(r, 5));
  if (!cond()) throw new Error(`timed out waiting for ${what}`);
};

describe('Supervisor per-container calls (the update engine drives these)', () => {
  const onFailure = { policy: 'on-failure' as const, maxRetries: 2, backoffMs: 10 };

  it('creates, starts and waits; an exit before the goal is restarted by policy and the goal still reached', async () => {
    const rt = new FakeContainerRuntime();
    const sup = new Supervisor({ runtime: rt, pollIntervalMs: 5 });
    await sup.create({
      ...desired('web-1', { restart: onFailure }),
      labels: { 'fleet.spec-hash': 'engine-hash' },
      updateLockDir: '/s/locks/web',
    });
    expect(sup.statusOf('web-1')).toMatchObject({ state: 'created', restarts: 0, totalRestarts: 0 });
    // The engine's label is kept as given; the supervisor's own key sits beside it.
    expect(rt.containers.get('web-1')?.labels).toEqual({
      'fleet.spec-hash': 'engine-hash',
      [DEFINITION_HASH_LABEL]: definitionHash(desired('web-1', { restart: onFailure })),
    });
    rt.exits.set('web-1', 3);
    await sup.start('web-1');
    expect(await sup.waitGoals(['web-1'], undefined, { timeoutMs: 2000 })).toEqual({ ok: true });
    await until(
      'the restart',
      () => sup.statusOf('web-1')?.state === 'running' && sup.statusOf('web-1')?.totalRestarts === 1,
    );
    expect(sup.statusOf('web-1')).toMatchObject({ lastExitCode: 3, restartPending: false });
    await sup.detach();
  });

  it('reports a crash loop from waitGoals, and a start that never worked as container-start-failed', async () => {
    const rt = new FakeContainerRuntime();
    const sup = new Supervisor({ runtime: rt, pollIntervalMs: 5 });
    await sup.create(
      desired('loop', {
        restart: onFailure,
        statusGoal: 'ready',
        health: { exec: ['check'], intervalMs: 1000, timeoutMs: 100, retries: 1, startPeriodMs: 0 },
      }),
    );
    const crash = () => {
      if (rt.containers.get('loop')?.state === 'running') rt.exits.set('loop', 1);
    };
    const t = setInterval(crash, 1);
    await sup.start('loop');
    const r = await sup.waitGoals(['loop'], undefined, { timeoutMs: 5000 });
    clearInterval(t);
    expect(r).toMatchObject({ ok: false, container: 'loop', reason: 'crash-loop' });
    expect(sup.statusOf('loop')).toMatchObject({ state: 'crash-loop', restarts: 2, totalRestarts: 2 });

    rt.failStart = true;
    await sup.create(desired('bad', { restart: { policy: 'never', maxRetries: 0, backoffMs: 10 } }));
    await sup.start('bad');
    expect(await sup.waitGoals(['bad'])).toMatchObject({
      ok: false,
      container: 'bad',
      reason: 'container-start-failed',
      message: expect.stringContaining('no such entrypoint'),
    });
    await sup.detach();
  });

  it('fails at once when an exit is left alone by the policy before the goal', async () => {
    const rt = new FakeContainerRuntime();
    const sup = new Supervisor({ runtime: rt, pollIntervalMs: 5 });
    const health = { exec: ['check'], intervalMs: 10_000, timeoutMs: 100, retries: 1, startPeriodMs: 60_000 };
    rt.healthy = false;
    await sup.create(
      desired('once', {
        restart: { policy: 'never', maxRetries: 3, backoffMs: 10 },
        statusGoal: 'ready',
        health,
      }),
    );
    await sup.start('once');
    rt.exits.set('once', 0);
    expect(await sup.waitGoals(['once'], undefined, { timeoutMs: 60_000 })).toMatchObject({
      ok: false,
      reason: 'container-start-failed',
      message: expect.stringContaining('restart policy "never" leaves it'),
    });
    await sup.detach();
  });

  it('stop holds a container down, start brings it back; remove stops supervising', async () => {
    const rt = new FakeContainerRuntime();
    const sup = new Supervisor({ runtime: rt, pollIntervalMs: 5 });
    await sup.create(desired('svc', { restart: { policy: 'always', maxRetries: 5, backoffMs: 10 } }));
    await sup.start('svc');
    await sup.stop('svc', 1000);
    await new Promise((r) => setTimeout(r, 50));
    expect(sup.statusOf('svc')).toMatchObject({ state: 'stopped', totalRestarts: 0 });
    expect(rt.containers.get('svc')?.state).toBe('stopped');
    await sup.start('svc');
    expect(sup.statusOf('svc')?.state).toBe('running');
    await sup.remove('svc');
    expect(sup.has('svc')).toBe(false);
    expect(rt.containers.has('svc')).toBe(false);
    // Not supervised: stop goes to the runtime as is.
    await sup.create(desired('other'));
    await sup.remove('other');
    await sup.stop('gone');
    expect(rt.calls.filter((c) => c.startsWith('stop'))).toEqual(['stop svc', 'stop gone']);
    await sup.detach();
  });

  it('records an exit of a held container as stopped, and watches again what someone else started', async () => {
    const rt = new FakeContainerRuntime();
    const held = new Set<string>();
    const sup = new Supervisor({ runtime: rt, pollIntervalMs: 5, held: (n) => held.has(n) });
    await sup.create(desired('app', { restart: { policy: 'always', maxRetries: 5, backoffMs: 10 } }));
    await sup.start('app');
    held.add('app');
    await rt.stop('app');
    await until('stopped', () => sup.statusOf('app')?.state === 'stopped');
    await new Promise((r) => setTimeout(r, 50));
    expect(rt.containers.get('app')?.state).toBe('stopped');
    held.delete('app');
    await rt.start('app');
    await until('running', () => sup.statusOf('app')?.state === 'running');
    expect(sup.statusOf('app')).toMatchObject({ reason: 'started outside the supervisor', totalRestarts: 0 });
    await sup.detach();
  });

  it('adopts a running container with its init pid, and one that stopped meanwhile as exited', async () => {
    const rt = new FakeContainerRuntime();
    rt.containers.set('up', { state: 'running', labels: {}, pid: 42 });
    rt.containers.set('down', { state: 'stopped', labels: {}, pid: 0, code: 9 });
    const sup = new Supervisor({ runtime: rt, pollIntervalMs: 5 });
    await sup.adopt(desired('up'));
    await sup.adopt(desired('down', { restart: { policy: 'never', maxRetries: 0, backoffMs: 10 } }));
    await expect(sup.adopt(desired('nothing'))).rejects.toThrow(/cannot adopt nothing: it is not defined/);
    expect(sup.statusOf('up')).toMatchObject({ state: 'running', initPid: 42, reason: 'adopted' });
    expect(sup.statusOf('down')).toMatchObject({ state: 'exited', lastExitCode: 9 });
    expect(rt.calls).toEqual([]);
    await sup.detach();
  });

  it('keeps its own definition hash: a caller label of that name does not change what adoption compares', async () => {
    const rt = new FakeContainerRuntime();
    const sup = new Supervisor({ runtime: rt, pollIntervalMs: 5 });
    const d = desired('web-1');
    await sup.create({ ...d, labels: { [DEFINITION_HASH_LABEL]: 'forged' } });
    expect(rt.containers.get('web-1')?.labels[DEFINITION_HASH_LABEL]).toBe(definitionHash(d));
    await sup.start('web-1');
    const pid = sup.statusOf('web-1')?.initPid;
    // A second agent process defining the same container finds it running: adopted, untouched.
    const again = new Supervisor({ runtime: rt, pollIntervalMs: 5 });
    await again.create(d);
    expect(again.statusOf('web-1')).toMatchObject({ state: 'running', initPid: pid, reason: 'adopted' });
    expect(rt.calls.filter((c) => c.startsWith('create'))).toEqual(['create web-1']);
    await sup.detach();
    await again.detach();
  });

  it('refresh() observes at once, between loop passes', async () => {
    const rt = new FakeContainerRuntime();
    const sup = new Supervisor({ runtime: rt, pollIntervalMs: 60_000 });
    await sup.create(desired('app', { restart: { policy: 'never', maxRetries: 0, backoffMs: 10 } }));
    await sup.start('app');
    await new Promise((r) => setTimeout(r, 20));
    rt.exits.set('app', 4);
    expect(sup.statusOf('app')?.state).toBe('running');
    await sup.refresh(['app', 'not-supervised']);
    expect(sup.statusOf('app')).toMatchObject({ state: 'exited', lastExitCode: 4 });
    await sup.detach();
  });
});

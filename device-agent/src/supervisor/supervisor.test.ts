import { ContainerSpec, type ContainerSpecInput } from '@fleet/protocol';
import { aContainer } from '@fleet/protocol/testing';
import { describe, expect, it } from 'vitest';
import type { ContainerRuntime, ContainerStatus, CreateRequest, ExecResult, StopResult } from '../runtime/container-runtime.js';
import { SPEC_HASH_LABEL, specHash, Supervisor, type DesiredContainer } from './supervisor.js';

/** In-memory ContainerRuntime recording every call; containers "run" until told otherwise. */
class FakeContainerRuntime implements ContainerRuntime {
  readonly calls: string[] = [];
  readonly containers = new Map<string, { state: ContainerStatus['state']; labels: Record<string, string>; pid: number }>();
  healthy = true;
  private nextPid = 100;

  async create(req: CreateRequest): Promise<void> {
    this.calls.push(`create ${req.name}`);
    this.containers.set(req.name, { state: 'stopped', labels: { ...(req.labels ?? {}) }, pid: 0 });
  }
  async start(name: string): Promise<ContainerStatus> {
    this.calls.push(`start ${name}`);
    const c = this.containers.get(name)!;
    c.state = 'running';
    c.pid = this.nextPid++;
    return this.state(name);
  }
  async stop(name: string): Promise<StopResult> {
    this.calls.push(`stop ${name}`);
    this.containers.get(name)!.state = 'stopped';
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
    return { name, state: c.state, initPid: c.state === 'running' ? c.pid : null, labels: c.labels, lastExit: c.state === 'stopped' ? { code: 1 } : null };
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
    expect(await sup.run([desired('web', { group: 'app' }), desired('net', { group: 'platform' })])).toEqual({ ok: true });
    await sup.detach();
    expect(rt.calls).toEqual(['create web', 'create net', 'start net', 'start web']);
  });

  it('adopts an unchanged running container, recreates a changed one, removes the unwanted', async () => {
    const rt = new FakeContainerRuntime();
    const keep = desired('keep');
    const changed = desired('changed', { start: { cmd: ['/bin/v2'] } });
    rt.containers.set('keep', { state: 'running', labels: { [SPEC_HASH_LABEL]: specHash(keep) }, pid: 7 });
    rt.containers.set('changed', { state: 'running', labels: { [SPEC_HASH_LABEL]: 'old' }, pid: 8 });
    rt.containers.set('orphan', { state: 'running', labels: {}, pid: 9 });
    const sup = new Supervisor({ runtime: rt, pollIntervalMs: 5 });
    expect(await sup.run([keep, changed])).toEqual({ ok: true });
    await sup.detach();
    expect(rt.calls).toEqual(['remove orphan', 'remove changed', 'create changed', 'start changed']);
    expect(sup.status().find((s) => s.name === 'keep')).toMatchObject({ state: 'running', initPid: 7, reason: 'adopted' });
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

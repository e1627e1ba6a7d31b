// App-only updates on real LXC driven through the Supervisor (SupervisedContainers): restart
// policies apply to the instances the engine starts, crash loops roll an update back, an exit
// the policy recovers from before the status goal does not, the app's update lock is a real
// file the container writes at /run/fleet, and the container's hostname is its manifest name.
import { access } from 'node:fs/promises';
import { join } from 'node:path';
import type { ContainerSpecInput, Progress, ReleaseManifest, Target } from '@fleet/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LxcRuntime } from '../../src/runtime/lxc/lxc-runtime.js';
import { Supervisor } from '../../src/supervisor/supervisor.js';
import { SupervisedContainers } from '../../src/update/adapters.js';
import type { UpdateEngine } from '../../src/update/engine.js';
import { LOCK_FILE, lockDirOnHost } from '../../src/update/locks.js';
import {
  finalReport,
  runningContainers,
  startUpdateRig,
  updateDeps,
  updateEngine,
  updateTarget,
  webRelease,
  type UpdateRig,
} from './helpers/update-rig.js';

let rig: UpdateRig;
let runtime: LxcRuntime;
let storage: string;
let reports: Progress[];
let logs: string[];
const supervisors: Supervisor[] = [];

// Every revision: a permanent /data, a `boot` tmpfs over all of /run (the lock directory must
// still be mounted on top of it), ready when /tmp/up exists.
function release(sequence: number, script: string, over: Partial<ContainerSpecInput> = {}): ReleaseManifest {
  return webRelease(rig, sequence, {
    start: { entrypoint: ['/bin/sh', '-c'], cmd: [script], env: { VERSION: String(sequence) } },
    volumes: [
      { name: 'data', path: '/data', persistence: 'permanent' },
      { name: 'run', path: '/run', persistence: 'boot' },
    ],
    restart: { policy: 'on-failure', maxRetries: 2, backoffMs: 100 },
    statusGoal: 'ready',
    health: {
      exec: ['/bin/sh', '-c', 'test -f /tmp/up'],
      intervalMs: 200,
      timeoutMs: 5000,
      retries: 2,
      startPeriodMs: 0,
    },
    ...over,
  });
}

const serve = 'echo $VERSION > /tmp/version; touch /tmp/up; exec sleep 100000';
// The first run of this revision leaves a mark in the permanent volume and fails; the restart
// the on-failure policy makes finds the mark and serves.
const failOnce =
  'if [ -f /data/ran-$VERSION ]; then echo $VERSION > /tmp/version; touch /tmp/up; exec sleep 100000; fi; touch /data/ran-$VERSION; exit 3';

const target = (r: ReleaseManifest, updateId: string): Target =>
  updateTarget(r, updateId, { bakeSeconds: 1 });

/** One "agent process": a supervisor and an engine on the shared runtime and storage. */
function newAgent(): { engine: UpdateEngine; supervisor: Supervisor; containers: SupervisedContainers } {
  const supervisor = new Supervisor({ runtime, pollIntervalMs: 100 });
  supervisors.push(supervisor);
  const deps = updateDeps(
    rig,
    (store) => new SupervisedContainers({ ...store, supervisor, goalTimeoutMs: 20_000, pollMs: 200 }),
  );
  const engine = updateEngine(rig, deps, { goalTimeoutMs: 20_000, pollMs: 200 });
  return { engine, supervisor, containers: deps.containers };
}

const final = (id: string) => finalReport(rig, id);
const sh = (name: string, script: string) =>
  runtime.exec(name, ['/bin/sh', '-c', script], { timeoutMs: 10_000 });

const running = () => runningContainers(rig);

async function only(): Promise<string> {
  const now = await running();
  expect(now).toHaveLength(1);
  return now[0] as string;
}

async function until(what: string, cond: () => boolean | Promise<boolean>, ms = 20_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await cond())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}\n${logs.join('\n')}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

beforeAll(async () => {
  rig = await startUpdateRig({ name: 'update-supervised' });
  ({ runtime, storage, reports, logs } = rig);
});

afterAll(async () => {
  for (const s of supervisors) await s.detach();
  await rig?.close();
});

describe('updates through the supervisor on real LXC', () => {
  let agent: ReturnType<typeof newAgent>;

  it('installs a revision whose container is named like its manifest entry and shares /run/fleet under a /run tmpfs', async () => {
    agent = newAgent();
    await agent.engine.start();
    agent.engine.offer(target(release(1, serve), 'u1'));
    await agent.engine.settled();
    expect(final('u1'), logs.join('\n')).toMatchObject({ status: 'succeeded' });
    const instance = await only();
    expect(instance).toMatch(/^web-[0-9a-f]{12}$/);
    expect((await sh(instance, 'hostname')).stdout.trim()).toBe('web');
    const mounts = (await sh(instance, 'cat /proc/mounts')).stdout;
    expect(mounts).toMatch(/ \/run tmpfs /);
    expect(mounts).toMatch(/ \/run\/fleet /);
    expect(agent.supervisor.statusOf(instance)).toMatchObject({ state: 'ready', totalRestarts: 0 });
  });

  it('restarts the committed container by its policy between updates', async () => {
    const instance = await only();
    const pid = agent.supervisor.statusOf(instance)?.initPid;
    // The workload dies of SIGKILL (exit 137): on-failure restarts it.
    await sh(instance, 'kill -9 $(pidof sleep)');
    await until('the policy restart', () => {
      const s = agent.supervisor.statusOf(instance);
      return s?.state === 'ready' && s.totalRestarts === 1;
    });
    expect(agent.supervisor.statusOf(instance)?.initPid).not.toBe(pid);
    expect(agent.containers.stateOf(instance)).toEqual({ restarts: 1, crashLoop: false });
  });

  it('an app holding /run/fleet/updates.lock in its container defers the install until it lets go', async () => {
    const before = await only();
    expect((await sh(before, `set -C; : > /run/fleet/${LOCK_FILE}`)).exitCode).toBe(0);
    await access(join(lockDirOnHost(storage, 'web'), LOCK_FILE));
    agent.engine.offer(target(release(2, serve), 'u2'));
    await until('the deferral', () => reports.some((p) => p.updateId === 'u2' && p.status === 'deferred'));
    expect(reports.find((p) => p.updateId === 'u2' && p.status === 'deferred')?.message).toContain(
      'update lock of web',
    );
    expect(await running()).toEqual([before]);
    expect((await sh(before, `rm /run/fleet/${LOCK_FILE}`)).exitCode).toBe(0);
    await agent.engine.settled();
    expect(final('u2'), logs.join('\n')).toMatchObject({ status: 'succeeded' });
    const now = await only();
    expect(now).not.toBe(before);
    expect((await sh(now, 'cat /tmp/version')).stdout.trim()).toBe('2');
    // The new instance sees the same (now empty) lock directory.
    expect((await sh(now, 'ls -A /run/fleet')).stdout.trim()).toBe('');
  });

  it('commits a revision whose container exits once and is restarted by on-failure before its goal', async () => {
    agent.engine.offer(target(release(3, failOnce), 'u3'));
    await agent.engine.settled();
    expect(final('u3'), logs.join('\n')).toMatchObject({ status: 'succeeded' });
    const now = await only();
    expect((await sh(now, 'cat /tmp/version')).stdout.trim()).toBe('3');
    expect(agent.supervisor.statusOf(now)).toMatchObject({
      state: 'ready',
      totalRestarts: 1,
      lastExitCode: 3,
    });
  });

  it('rolls back a revision whose container the policy restarts during the bake (a restart in the bake is a crash)', async () => {
    const before = await only();
    // Ready at once, dies after 3 s, every run: the bake (10 s) sees the policy's restarts. With
    // 1 s of life, a CI run at load 30 saw the exit before the status goal and (rightly) reported
    // container-start-failed instead: the margin keeps this test about the bake.
    agent.engine.offer({
      ...target(release(4, 'touch /tmp/up; sleep 3; exit 1'), 'u4-bake'),
      bakeSeconds: 10,
    });
    await agent.engine.settled();
    expect(final('u4-bake'), logs.join('\n')).toMatchObject({ status: 'rolled-back', reason: 'crash-loop' });
    expect((await runtime.list()).map((c) => c.name)).toEqual([before]);
    await until('the old instance ready again', () => agent.supervisor.statusOf(before)?.state === 'ready');
  });

  it('rolls back a revision whose container crash-loops (reason crash-loop), the previous one supervised again', async () => {
    const before = await only();
    agent.engine.offer(target(release(5, 'exit 1'), 'u5'));
    await agent.engine.settled();
    expect(final('u5'), logs.join('\n')).toMatchObject({ status: 'rolled-back', reason: 'crash-loop' });
    expect(reports.some((p) => p.updateId === 'u5' && /restarts did not help/.test(p.message ?? ''))).toBe(
      true,
    );
    expect(await running()).toEqual([before]);
    expect((await runtime.list()).map((c) => c.name)).toEqual([before]);
    expect((await sh(before, 'cat /tmp/version')).stdout.trim()).toBe('3');
    await until('the old instance ready again', () => agent.supervisor.statusOf(before)?.state === 'ready');
    expect(agent.supervisor.status().map((s) => s.name)).toEqual([before]);
    await agent.engine.stop();
    await agent.supervisor.detach();
  });

  it('a restarted agent adopts the running instance (same init pid) and supervises it', async () => {
    const instance = await only();
    const pid = (await runtime.state(instance)).initPid;
    const next = newAgent();
    await next.engine.start();
    await until('the adoption', () => next.supervisor.has(instance));
    expect(next.supervisor.statusOf(instance)?.initPid).toBe(pid);
    await until('the adopted instance ready', () => next.supervisor.statusOf(instance)?.state === 'ready');
    expect(await running()).toEqual([instance]);
    await next.engine.stop();
    await next.supervisor.detach();
  });
});

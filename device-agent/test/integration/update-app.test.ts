// An app-only update on real LXC containers, through the real store (objects, revisions,
// volumes) and durable files: install, update, a failing update rolled back, and an agent that
// dies in `testing` resuming. The permanent volume's bytes never change.
import { createHash } from 'node:crypto';
import { mkdir, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { ContainerSpecInput, Progress, ReleaseManifest, Target } from '@fleet/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LxcRuntime } from '../../src/runtime/lxc/lxc-runtime.js';
import { RuntimeContainers } from '../../src/update/adapters.js';
import type { UpdateEngine } from '../../src/update/engine.js';
import { LOCK_FILE, lockDirOnHost } from '../../src/update/locks.js';
import type { UpdateDeps } from '../../src/update/ports.js';
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
let deps: UpdateDeps;
let reports: Progress[];
let logs: string[];
let storage: string;

function release(sequence: number, web: Partial<ContainerSpecInput>): ReleaseManifest {
  return webRelease(rig, sequence, {
    volumes: [{ name: 'data', path: '/data', persistence: 'permanent' }],
    statusGoal: 'ready',
    health: {
      exec: ['/bin/sh', '-c', 'test -f /tmp/up'],
      intervalMs: 200,
      timeoutMs: 2000,
      retries: 2,
      startPeriodMs: 0,
    },
    ...web,
  });
}

// Writes the permanent seed once, marks itself up, and idles; VERSION shows which revision runs.
const serve = (version: string) => ({
  start: {
    entrypoint: ['/bin/sh', '-c'],
    cmd: [
      '[ -f /data/seed ] || head -c 4096 /dev/urandom > /data/seed; echo $VERSION > /tmp/version; touch /tmp/up; exec sleep 100000',
    ],
    env: { VERSION: version },
  },
});

const target = (r: ReleaseManifest, updateId: string): Target =>
  updateTarget(r, updateId, { bakeSeconds: 2 });

function newEngine(crashAt?: string, over: Partial<UpdateDeps> = {}): UpdateEngine {
  let armed = crashAt;
  return updateEngine(
    rig,
    { ...deps, ...over },
    {
      goalTimeoutMs: 20_000,
      pollMs: 250,
      crashHook: (state, phase) => {
        if (armed === `${state}:${phase}`) {
          armed = undefined;
          throw new Error(`simulated crash at ${state}:${phase}`);
        }
      },
    },
  );
}

const running = () => runningContainers(rig);

async function versionOf(name: string): Promise<string> {
  return (await runtime.exec(name, ['/bin/cat', '/tmp/version'], { timeoutMs: 5_000 })).stdout.trim();
}

async function seedSum(): Promise<string> {
  return createHash('sha256')
    .update(await readFile(join(storage, 'volumes', 'web', 'data', 'seed')))
    .digest('hex');
}

const final = (id: string) => finalReport(rig, id);

beforeAll(async () => {
  rig = await startUpdateRig({ name: 'update-app' });
  ({ runtime, storage, reports, logs } = rig);
  deps = updateDeps(rig, (store) => new RuntimeContainers({ ...store, goalTimeoutMs: 20_000, pollMs: 200 }));
});

afterAll(async () => {
  await rig?.close();
});

describe('app-only update on real LXC', () => {
  let v2Instance = '';

  it('installs a first revision, then updates it, keeping the permanent volume', async () => {
    const engine = newEngine();
    await engine.start();
    engine.offer(target(release(1, serve('1')), 'u1'));
    await engine.settled();
    expect(final('u1'), logs.join('\n')).toMatchObject({ status: 'succeeded' });
    const [v1Instance] = await running();
    expect(v1Instance).toMatch(/^web-[0-9a-f]{12}$/);
    expect(await versionOf(v1Instance as string)).toBe('1');
    const seed = await seedSum();

    engine.offer(target(release(2, serve('2')), 'u2'));
    await engine.settled();
    expect(final('u2'), logs.join('\n')).toMatchObject({ status: 'succeeded' });
    const now = await running();
    expect(now).toHaveLength(1);
    v2Instance = now[0] as string;
    expect(v2Instance).not.toBe(v1Instance);
    expect(await versionOf(v2Instance)).toBe('2');
    // The old instance was removed after commit: nothing orphaned.
    expect((await runtime.list()).map((c) => c.name)).toEqual([v2Instance]);
    expect(await seedSum()).toBe(seed);
    const current = JSON.parse(await readFile(join(storage, 'current'), 'utf8'));
    expect(current).toMatchObject({ committed: { sequence: 2 }, history: [{ sequence: 1 }] });
    await engine.stop();
  });

  it('rolls back a revision whose container dies, restarting the previous one, and never retries it', async () => {
    const seed = await seedSum();
    const engine = newEngine();
    await engine.start();
    engine.offer(target(release(3, { start: { entrypoint: ['/bin/sh', '-c'], cmd: ['exit 3'] } }), 'u3'));
    await engine.settled();
    expect(final('u3'), logs.join('\n')).toMatchObject({ status: 'rolled-back' });
    expect(['container-start-failed', 'status-goal-timeout']).toContain(final('u3')?.reason);
    expect(await running()).toEqual([v2Instance]);
    expect(await versionOf(v2Instance)).toBe('2');
    expect((await runtime.list()).map((c) => c.name)).toEqual([v2Instance]);
    expect(await seedSum()).toBe(seed);

    engine.offer(
      target(release(3, { start: { entrypoint: ['/bin/sh', '-c'], cmd: ['exit 3'] } }), 'u3-again'),
    );
    await engine.settled();
    expect(final('u3-again')).toMatchObject({ status: 'failed', reason: 'revision-failed-before' });
    await engine.stop();
  });

  it('an agent that dies in testing resumes after its restart and commits', async () => {
    const dying = newEngine('testing:after');
    await dying.start();
    dying.offer(target(release(4, serve('4')), 'u4'));
    await dying.settled();
    expect(dying.state).toBe('testing');
    const journal = JSON.parse(await readFile(join(storage, 'journal.json'), 'utf8'));
    expect(journal).toMatchObject({ state: 'testing', update: { target: { updateId: 'u4' } } });

    const restarted = newEngine();
    await restarted.start();
    await restarted.settled();
    expect(final('u4'), logs.join('\n')).toMatchObject({ status: 'succeeded' });
    const now = await running();
    expect(now).toHaveLength(1);
    expect(await versionOf(now[0] as string)).toBe('4');
    expect((await runtime.list()).map((c) => c.name)).toEqual(now);
    await restarted.stop();
  });

  it('a journal truncated on disk mid-update recovers to the committed revision', async () => {
    const before = await running();
    const seed = await seedSum();
    const dying = newEngine('testing:after');
    await dying.start();
    dying.offer(target(release(5, serve('5')), 'u5'));
    await dying.settled();
    expect(dying.state).toBe('testing');
    // The new revision's container runs now; the journal loses its tail.
    expect(await running()).not.toEqual(before);
    const path = join(storage, 'journal.json');
    await truncate(path, Math.floor((await stat(path)).size / 3));

    const restarted = newEngine();
    await restarted.start();
    await restarted.settled();
    expect(restarted.state).toBe('idle');
    expect(await running()).toEqual(before);
    expect((await runtime.list()).map((c) => c.name)).toEqual(before);
    expect(await versionOf(before[0] as string)).toBe('4');
    expect(JSON.parse(await readFile(join(storage, 'current'), 'utf8'))).toMatchObject({
      committed: { sequence: 4 },
    });
    expect(await seedSum()).toBe(seed);
    expect(logs.some((l) => l.includes('journal is not JSON'))).toBe(true);
    await restarted.stop();
  });

  it('an app holding its update lock defers the install until it lets go', async () => {
    const lockDir = lockDirOnHost(storage, 'web');
    await mkdir(lockDir, { recursive: true });
    await writeFile(join(lockDir, LOCK_FILE), '');
    const before = await running();
    const engine = newEngine();
    await engine.start();
    engine.offer(target(release(6, serve('6')), 'u6'));
    for (let i = 0; i < 200 && !reports.some((p) => p.updateId === 'u6' && p.status === 'deferred'); i++)
      await new Promise((r) => setTimeout(r, 50));
    expect(reports.find((p) => p.updateId === 'u6' && p.status === 'deferred')?.message).toContain(
      'update lock of web',
    );
    expect(await running()).toEqual(before);
    await rm(join(lockDir, LOCK_FILE));
    await engine.settled();
    expect(final('u6')).toMatchObject({ status: 'succeeded' });
    expect(await versionOf((await running())[0] as string)).toBe('6');
    await engine.stop();
  });

  it('hand-over starts the new instance and waits for its goal before the old one stops', async () => {
    const [old] = await running();
    const seen: string[][] = [];
    const containers = deps.containers;
    const engine = newEngine(undefined, {
      containers: {
        observe: () => containers.observe(),
        health: (names) => containers.health(names),
        executors: {
          ...containers.executors,
          'wait-goals': async (step, signal) => {
            await containers.executors['wait-goals'](step, signal);
            seen.push(await running());
          },
        },
      },
    });
    await engine.start();
    engine.offer({ ...target(release(7, serve('7')), 'u7'), strategy: 'hand-over' });
    await engine.settled();
    expect(final('u7'), logs.join('\n')).toMatchObject({ status: 'succeeded' });
    const [now] = await running();
    expect(now).not.toBe(old);
    // When the new instance reached its goal, the old one was still serving.
    expect(seen[0]?.sort()).toEqual([old, now].sort());
    expect((await runtime.list()).map((c) => c.name)).toEqual([now]);
    await engine.stop();
  });
});

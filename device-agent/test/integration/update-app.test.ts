// An app-only update on real LXC containers, through the real store (objects, revisions,
// volumes) and durable files: install, update, a failing update rolled back, and an agent that
// dies in `testing` resuming. The permanent volume's bytes never change.
import { createHash } from 'node:crypto';
import { mkdir, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  generateSigningKey,
  signManifest,
  ReleaseManifest,
  type Progress,
  type ReleaseManifestInput,
  type Target,
} from '@fleet/protocol';
import { aContainer, aRelease } from '@fleet/protocol/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Liblxc } from '../../src/runtime/lxc/liblxc.js';
import { LxcRuntime } from '../../src/runtime/lxc/lxc-runtime.js';
import { StarterClient } from '../../src/runtime/lxc/starter.js';
import { ObjectStore } from '../../src/store/object-store.js';
import { RevisionStore } from '../../src/store/revision-store.js';
import { VolumeStore } from '../../src/store/volumes.js';
import {
  objectStorePort,
  RuntimeContainers,
  StoreRevisions,
  systemClock,
} from '../../src/update/adapters.js';
import { DirectoryDurableFiles } from '../../src/update/atomic-file.js';
import { UpdateEngine } from '../../src/update/engine.js';
import { ExclusiveRunner } from '../../src/update/exclusive-runner.js';
import { FileUpdateLocks, LOCK_FILE, lockDirOnHost } from '../../src/update/locks.js';
import type { UpdateDeps } from '../../src/update/ports.js';
import { buildBusyboxRootfs, buildSquashfs, tempDir } from './helpers/rootfs.js';

const key = generateSigningKey('update-it');
let tmp: Awaited<ReturnType<typeof tempDir>>;
let lxc: Liblxc;
let starter: StarterClient;
let runtime: LxcRuntime;
let deps: UpdateDeps;
let rootfs: { digest: string; size: number };
const reports: Progress[] = [];
const logs: string[] = [];
let storage: string;

function release(sequence: number, web: Partial<Parameters<typeof aContainer>[0]>): ReleaseManifest {
  const input: ReleaseManifestInput = aRelease({
    version: `${sequence}.0.0`,
    sequence,
    release: `r${sequence}`,
    containers: {
      web: aContainer({
        rootfs,
        image: { ref: 'busybox', digest: rootfs.digest },
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
      }),
    },
  });
  return signManifest(ReleaseManifest.parse(input), key);
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

const target = (r: ReleaseManifest, updateId: string): Target => ({
  updateId,
  release: r,
  objectBaseUrl: 'http://127.0.0.1:9/objects',
  config: {},
  configVersion: 0,
  strategy: 'stop-start',
  force: false,
  bakeSeconds: 2,
});

function newEngine(crashAt?: string, over: Partial<UpdateDeps> = {}): UpdateEngine {
  let armed = crashAt;
  return new UpdateEngine(
    { ...deps, ...over },
    {
      identity: { board: 'qemu-aarch64', agentVersion: '1.0.0', trustRoots: [key.trustRoot] },
      runner: new ExclusiveRunner(),
      settings: {
        gate: { goalTimeoutMs: 20_000, pollMs: 250, hubTimeoutMs: 1_000 },
        spaceReserveBytes: 1024 * 1024,
        lockPollMs: 200,
      },
      crashHook: (state, phase) => {
        if (armed === `${state}:${phase}`) {
          armed = undefined;
          throw new Error(`simulated crash at ${state}:${phase}`);
        }
      },
    },
  );
}

async function running(): Promise<string[]> {
  return (await runtime.list())
    .filter((c) => c.state === 'running')
    .map((c) => c.name)
    .sort();
}

async function versionOf(name: string): Promise<string> {
  return (await runtime.exec(name, ['/bin/cat', '/tmp/version'], { timeoutMs: 5_000 })).stdout.trim();
}

async function seedSum(): Promise<string> {
  return createHash('sha256')
    .update(await readFile(join(storage, 'volumes', 'web', 'data', 'seed')))
    .digest('hex');
}

const final = (id: string) => reports.filter((p) => p.updateId === id && p.state === 'idle').at(-1);

beforeAll(async () => {
  tmp = await tempDir('fleet-update-');
  storage = join(tmp.path, 'storage');
  const tree = await buildBusyboxRootfs(join(tmp.path, 'rootfs'));
  const sqfs = await buildSquashfs(tree, join(tmp.path, 'rootfs.sqfs'));
  const bytes = await readFile(sqfs);
  rootfs = {
    digest: `sha256:${createHash('sha256').update(bytes).digest('hex')}`,
    size: (await stat(sqfs)).size,
  };

  const objects = new ObjectStore(storage);
  await objects.init();
  // Objects arrive with the local install path (`fleet-agent install <dir>`): no download.
  await objects.putFile(rootfs.digest, sqfs);
  const revisionStore = new RevisionStore(storage);
  await revisionStore.init();
  const lxcpath = join(tmp.path, 'lxc');
  await mkdir(lxcpath, { recursive: true });
  lxc = Liblxc.load();
  starter = new StarterClient();
  runtime = new LxcRuntime({ lxc, starter, lxcpath });
  const revisions = new StoreRevisions(
    revisionStore,
    new DirectoryDurableFiles(join(storage, 'update-revisions')),
  );
  deps = {
    files: new DirectoryDurableFiles(storage),
    revisions,
    objects: objectStorePort(objects, storage),
    downloader: {
      fetch: async (missing) => {
        throw new Error(
          `nothing should be downloaded here, asked for ${missing.map((m) => m.digest).join(', ')}`,
        );
      },
    },
    containers: new RuntimeContainers({
      runtime,
      objects,
      volumes: new VolumeStore(storage),
      revisionNumber: (id) => revisions.numberOf(id),
      clock: systemClock,
      goalTimeoutMs: 20_000,
      pollMs: 200,
    }),
    reboot: async () => {
      throw new Error('an app-only update never reboots');
    },
    locks: new FileUpdateLocks(storage),
    clock: systemClock,
    report: (p) => reports.push(p),
    log: (level, msg) => logs.push(`${level}: ${msg}`),
  };
});

afterAll(async () => {
  if (runtime) for (const c of await runtime.list()) await runtime.remove(c.name).catch(() => undefined);
  await starter?.close();
  await tmp?.cleanup();
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

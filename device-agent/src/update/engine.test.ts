import { generateSigningKey, signManifest } from '@fleet/protocol';
import { describe, expect, it } from 'vitest';
import { instancesOf } from '../reconcile/index.js';
import { aContainer, digestOf } from './testing/builders.js';
import { aSignedRelease, SimulatedDevice } from './testing/device.js';
import { effectiveManifest } from './revision.js';

const web = (c: string, over = {}) => aContainer({ rootfs: { digest: digestOf(c), size: 1000 }, ...over });
const net = aContainer({ group: 'platform', rootfs: { digest: digestOf('9'), size: 1000 } });

const v1 = aSignedRelease({ version: '1.0.0', sequence: 1, containers: { web: web('1'), net } });
const v2 = aSignedRelease({ version: '2.0.0', sequence: 2, containers: { web: web('2'), net } });
const sys2 = aSignedRelease({
  version: '2.0.0',
  sequence: 2,
  containers: { web: web('2'), net },
  system: { rootfs: { digest: digestOf('5'), size: 5000, slot: 'ab' } },
});

/** A device that has committed v1. */
async function deviceOnV1(opts: ConstructorParameters<typeof SimulatedDevice>[0] = {}) {
  const d = new SimulatedDevice(opts);
  await d.start();
  await d.update(d.target(v1, { bakeSeconds: 5 }));
  expect(d.progress.final('u-1')?.status).toBe('succeeded');
  d.progress.all.length = 0;
  return d;
}

const runningOf = (release: typeof v1, config = {}) => instancesOf(effectiveManifest({ release, config }));

describe('app-only update', () => {
  it('downloads, installs, bakes and commits; the unchanged container keeps running', async () => {
    const d = await deviceOnV1();
    const netInstance = runningOf(v1).find((i) => i.startsWith('net-'));
    d.containers.log.length = 0;
    await d.update(d.target(v2, { bakeSeconds: 5 }));
    expect(d.progress.statuses('u-2')).toEqual(['downloading', 'installing', 'testing', 'succeeded']);
    expect(d.containers.running()).toEqual(runningOf(v2));
    expect(d.containers.log.some((l) => l.includes(netInstance as string))).toBe(false);
    expect(await d.committed()).toMatch(/^2-/);
    expect(await d.journalState()).toBe('idle');
    // The old web instance was kept stopped until commit, then removed.
    expect([...d.containers.instances.keys()].sort()).toEqual(runningOf(v2));
  });

  it('downloads only the objects it does not have', async () => {
    const d = await deviceOnV1();
    d.downloader.calls.length = 0;
    await d.update(d.target(v2));
    expect(d.downloader.calls).toEqual([[digestOf('2')]]);
  });
});

describe('app-only rollback', () => {
  it('rolls back to the previous revision when a new container crash-loops, and never retries it', async () => {
    const d = await deviceOnV1();
    d.containers.behaviour = (c, spec) =>
      c === 'web' && spec.rootfs.digest === digestOf('2') ? 'crash-loop' : 'running';
    await d.update(d.target(v2));
    const final = d.progress.final('u-2');
    expect(final).toMatchObject({ status: 'rolled-back', reason: 'crash-loop' });
    expect(d.containers.running()).toEqual(runningOf(v1));
    expect([...d.containers.instances.keys()].sort()).toEqual(runningOf(v1));
    expect(await d.committed()).toMatch(/^1-/);

    d.containers.behaviour = () => 'running';
    await d.update(d.target(v2, { updateId: 'u-2b' }));
    expect(d.progress.final('u-2b')).toMatchObject({ status: 'failed', reason: 'revision-failed-before' });
    expect(d.containers.running()).toEqual(runningOf(v1));

    expect(await d.engine.reportView()).toMatchObject({
      revision: { sequence: 1 },
      updateState: 'idle',
      failedRevisions: [final?.revision.digest],
    });

    await d.update(d.target(v2, { updateId: 'u-2c', force: true }));
    expect(d.progress.final('u-2c')?.status).toBe('succeeded');
    expect(d.containers.running()).toEqual(runningOf(v2));
    expect(await d.engine.reportView()).toMatchObject({
      revision: { sequence: 2, version: '2.0.0' },
      failedRevisions: [],
    });
  });

  it.each([
    ['a container that cannot start', () => 'start-fails' as const, 'container-start-failed'],
    ['a status goal never reached', () => 'starting' as const, 'status-goal-timeout'],
    ['a failing health check', () => 'unhealthy' as const, 'health-check-failed'],
  ])('rolls back on %s', async (_what, behaviour, reason) => {
    const d = await deviceOnV1();
    const ready = web('2', { statusGoal: 'ready', health: { exec: ['/bin/true'] } });
    const v2ready = aSignedRelease({ version: '2.0.0', sequence: 2, containers: { web: ready, net } });
    d.containers.behaviour = (c, spec) =>
      c === 'web' && spec.rootfs.digest === digestOf('2') ? behaviour() : 'running';
    await d.update(d.target(v2ready));
    expect(d.progress.final('u-2')).toMatchObject({ status: 'rolled-back', reason });
    expect(d.containers.running()).toEqual(runningOf(v1));
  });

  it('rolls back when the hub is not reachable after the bake', async () => {
    const d = await deviceOnV1();
    d.hubUp = false;
    await d.restartAgent();
    await d.update(d.target(v2));
    expect(d.progress.final('u-2')).toMatchObject({ status: 'rolled-back', reason: 'hub-unreachable' });
  });

  it('a first update that fails leaves nothing running', async () => {
    const d = new SimulatedDevice();
    await d.start();
    d.containers.behaviour = () => 'crash-loop';
    await d.update(d.target(v1));
    expect(d.progress.final('u-1')).toMatchObject({ status: 'rolled-back', reason: 'crash-loop' });
    expect(d.containers.instances.size).toBe(0);
    expect(await d.committed()).toBeUndefined();
  });
});

describe('refusals change nothing on the device', () => {
  const other = generateSigningKey('other');
  const cases: [string, () => Parameters<SimulatedDevice['target']>[0], string][] = [
    ['a bad signature', () => ({ ...v2, notes: 'tampered after signing' }), 'signature-invalid'],
    ['an unknown signing key', () => signManifest({ ...v2, signatures: [] }, other), 'unknown-signing-key'],
    ['no signature', () => ({ ...v2, signatures: [] }), 'signature-invalid'],
    [
      'a lower sequence',
      () =>
        aSignedRelease({ version: '0.9.0', sequence: 1, release: 'old', containers: { web: web('3'), net } }),
      'sequence-not-newer',
    ],
    [
      'another board',
      () => aSignedRelease({ sequence: 3, board: 'rpi4', compatibleBoards: ['rpi4'] }),
      'board-mismatch',
    ],
    [
      'a newer agent requirement',
      () => aSignedRelease({ sequence: 3, minAgentVersion: '2.0.0' }),
      'agent-too-old',
    ],
  ];
  it.each(cases)('refuses %s', async (_what, release, reason) => {
    const d = await deviceOnV1();
    const journalBefore = d.files.text('journal.json');
    const downloads = d.downloader.calls.length;
    await d.update(d.target(release(), { updateId: 'bad' }));
    expect(d.progress.final('bad')).toMatchObject({ status: 'failed', reason });
    expect(d.progress.final('bad')?.message).toBeTruthy();
    expect(d.files.text('journal.json')).toBe(journalBefore);
    expect(d.downloader.calls.length).toBe(downloads);
    expect(d.containers.running()).toEqual(runningOf(v1));
  });

  it('refuses an unknown time zone in the maintenance window', async () => {
    const d = await deviceOnV1();
    await d.update(
      d.target(v2, { window: { days: ['mon'], start: '01:00', end: '02:00', timeZone: 'Mars/Olympus' } }),
    );
    expect(d.progress.final('u-2')).toMatchObject({ status: 'failed', reason: 'manifest-invalid' });
    expect(d.progress.final('u-2')?.message).toContain('Mars/Olympus');
  });

  it('refuses when the objects do not fit, naming both numbers', async () => {
    const d = await deviceOnV1();
    d.objects.free = 1000;
    await d.update(d.target(v2));
    const f = d.progress.final('u-2');
    expect(f).toMatchObject({ status: 'failed', reason: 'insufficient-space' });
    expect(f?.message).toMatch(/needs 1000 B .* 1000 B free/);
    expect(d.downloader.calls.length).toBe(1);
    expect(d.containers.running()).toEqual(runningOf(v1));
  });

  it('reports a download failure and stays on the committed revision', async () => {
    const d = await deviceOnV1();
    d.downloader.fail = Object.assign(new Error('sha256 mismatch for sha256:22…'), {
      reason: 'digest-mismatch',
    });
    await d.update(d.target(v2));
    expect(d.progress.final('u-2')).toMatchObject({ status: 'failed', reason: 'digest-mismatch' });
    expect(d.containers.running()).toEqual(runningOf(v1));
    expect(await d.committed()).toMatch(/^1-/);
  });

  it('goes back to a stored, previously committed revision (operator rollback)', async () => {
    const d = await deviceOnV1();
    await d.update(d.target(v2));
    await d.update(d.target(v1, { updateId: 'back' }));
    expect(d.progress.final('back')?.status).toBe('succeeded');
    expect(d.containers.running()).toEqual(runningOf(v1));
  });

  it('ignores a target for the revision it already runs', async () => {
    const d = await deviceOnV1();
    const writes = d.files.writes;
    await d.update(d.target(v1, { updateId: 'again' }));
    expect(d.progress.final('again')).toMatchObject({ status: 'succeeded' });
    expect(d.files.writes).toBe(writes);
  });
});

describe('config vars', () => {
  it('a config-only update restarts only the container whose vars changed', async () => {
    const d = await deviceOnV1();
    const netInstance = runningOf(v1).find((i) => i.startsWith('net-')) as string;
    await d.update(d.target(v1, { updateId: 'cfg', config: { web: { MODE: 'fast' } }, configVersion: 1 }));
    expect(d.progress.final('cfg')?.status).toBe('succeeded');
    expect(d.containers.running()).toEqual(runningOf(v1, { web: { MODE: 'fast' } }));
    expect(d.containers.running()).toContain(netInstance);
    await d.update(
      d.target(v1, { updateId: 'cfg-old', config: { web: { MODE: 'slow' } }, configVersion: 1 }),
    );
    expect(d.progress.final('cfg-old')).toMatchObject({ status: 'failed', reason: 'sequence-not-newer' });
  });
});

describe('maintenance window and update locks', () => {
  it('downloads at once but installs only inside the window', async () => {
    const d = await deviceOnV1();
    // Clock: Monday 2026-11-30 12:00 UTC. Window: Monday 22:00-02:00 UTC.
    await d.update(
      d.target(v2, { window: { days: ['mon'], start: '22:00', end: '02:00', timeZone: 'UTC' } }),
    );
    expect(d.progress.statuses('u-2')).toEqual([
      'downloading',
      'deferred',
      'installing',
      'testing',
      'succeeded',
    ]);
    const installing = d.progress.all.find((p) => p.updateId === 'u-2' && p.status === 'installing');
    expect(installing).toBeDefined();
    const at = new Date(d.clock.now());
    expect(at.getUTCHours() >= 22 || at.getUTCHours() < 2).toBe(true);
    expect(d.downloader.calls.length).toBeGreaterThan(0);
  });

  it('an update lock defers the install until released', async () => {
    const d = await deviceOnV1();
    d.locks.holders.add('web');
    d.engine.offer(d.target(v2));
    while (!d.progress.all.some((p) => p.status === 'deferred')) await new Promise((r) => setImmediate(r));
    expect(d.progress.all.find((p) => p.status === 'deferred')?.message).toContain('update lock of web');
    expect(d.containers.running()).toEqual(runningOf(v1));
    d.locks.holders.clear();
    await d.settle();
    expect(d.progress.final('u-2')?.status).toBe('succeeded');
  });

  it('a lock of a container the update does not touch does not defer it', async () => {
    const d = await deviceOnV1();
    d.locks.holders.add('net');
    await d.update(d.target(v2));
    expect(d.progress.statuses('u-2')).not.toContain('deferred');
  });

  it('installs anyway after the maximum deferral, counted across agent restarts', async () => {
    const d = await deviceOnV1({ settings: { maxDeferralMs: 3_600_000, lockPollMs: 60_000 } });
    d.locks.holders.add('web');
    const start = d.clock.now();
    d.engine.offer(d.target(v2));
    while (d.clock.now() - start < 1_800_000) await new Promise((r) => setImmediate(r));
    await d.restartAgent();
    expect(d.progress.final('u-2')?.status).toBe('succeeded');
    expect(d.clock.now() - start).toBeLessThan(3_600_000 + 120_000);
    expect(d.clock.now() - start).toBeGreaterThanOrEqual(3_600_000);
  });
});

describe('single flight and superseding', () => {
  it('a newer target supersedes one waiting for its window', async () => {
    const d = await deviceOnV1();
    const v3 = aSignedRelease({ version: '3.0.0', sequence: 3, containers: { web: web('3'), net } });
    d.engine.offer(
      d.target(v2, { window: { days: ['sun'], start: '01:00', end: '02:00', timeZone: 'UTC' } }),
    );
    while (!d.progress.all.some((p) => p.status === 'deferred')) await new Promise((r) => setImmediate(r));
    d.engine.offer(d.target(v3));
    await d.settle();
    expect(d.progress.final('u-2')).toMatchObject({ status: 'failed', reason: 'superseded' });
    expect(d.progress.final('u-3')?.status).toBe('succeeded');
    expect(d.containers.running()).toEqual(runningOf(v3));
  });

  it('a newer target never interrupts an install: it runs after the commit', async () => {
    const d = await deviceOnV1();
    const v3 = aSignedRelease({ version: '3.0.0', sequence: 3, containers: { web: web('3'), net } });
    d.engine.offer(d.target(v2));
    while (d.engine.state !== 'testing') await new Promise((r) => setImmediate(r));
    expect(d.engine.offer(d.target(v3))).toEqual({ accepted: true, queued: true });
    await d.settle();
    expect(d.progress.final('u-2')?.status).toBe('succeeded');
    expect(d.progress.final('u-3')?.status).toBe('succeeded');
    expect(d.containers.running()).toEqual(runningOf(v3));
  });

  it('only the newest of several queued targets runs', async () => {
    const d = await deviceOnV1();
    const v3 = aSignedRelease({ version: '3.0.0', sequence: 3, containers: { web: web('3'), net } });
    const v4 = aSignedRelease({ version: '4.0.0', sequence: 4, containers: { web: web('4'), net } });
    d.engine.offer(d.target(v2));
    while (d.engine.state !== 'testing') await new Promise((r) => setImmediate(r));
    d.engine.offer(d.target(v3));
    d.engine.offer(d.target(v4));
    await d.settle();
    expect(d.progress.final('u-3')).toMatchObject({ status: 'failed', reason: 'superseded' });
    expect(d.containers.running()).toEqual(runningOf(v4));
  });

  it('a target offered right after start is not lost', async () => {
    const d = new SimulatedDevice();
    await d.engine.start();
    d.engine.offer(d.target(v1));
    await d.settle();
    expect(d.progress.final('u-1')?.status).toBe('succeeded');
  });

  it('a repeated offer of the update in flight is a duplicate', async () => {
    const d = await deviceOnV1();
    d.engine.offer(d.target(v2));
    expect(d.engine.offer(d.target(v2))).toMatchObject({ accepted: false, reason: 'duplicate' });
    await d.settle();
  });
});

describe('system update (A/B)', () => {
  it('writes the inactive slot, reboots into it, tests and commits', async () => {
    const d = await deviceOnV1();
    await d.update(d.target(sys2));
    expect(d.boot.calls).toEqual(['install B', 'arm B', 'commit']);
    expect(d.boot.booted).toBe('B');
    expect(d.boot.upgradeAvailable).toBe(false);
    expect(d.progress.statuses('u-2')).toEqual([
      'downloading',
      'installing',
      'rebooting',
      'testing',
      'succeeded',
    ]);
    expect(d.containers.running()).toEqual(runningOf(sys2));
    const cur = JSON.parse(d.files.text('current') ?? '{}');
    expect(cur).toMatchObject({ slot: 'B', committed: { sequence: 2 } });
  });

  it('reports rolled-back with boot-failed and the boot log when the bootloader falls back', async () => {
    const d = await deviceOnV1();
    d.boot.brokenImages.add(digestOf('5'));
    d.bootLog = 'Kernel panic - not syncing: VFS: Unable to mount root fs';
    await d.update(d.target(sys2));
    expect(d.boot.booted).toBe('A');
    const f = d.progress.final('u-2');
    expect(f).toMatchObject({ status: 'rolled-back', reason: 'boot-failed' });
    expect(f?.failedBootLog).toContain('Kernel panic');
    expect(d.containers.running()).toEqual(runningOf(v1));
    expect((await d.boot.verifyBoot()).fellBack).toBe(false);
  });

  it('rolls back with a reboot into the old slot when the new system is unhealthy', async () => {
    const d = await deviceOnV1();
    d.containers.behaviour = (c, spec) =>
      c === 'web' && spec.rootfs.digest === digestOf('2') ? 'crash-loop' : 'running';
    await d.update(d.target(sys2));
    expect(d.boot.booted).toBe('A');
    expect(d.boot.calls).toEqual(['install B', 'arm B', 'rollback', 'commit']);
    expect(d.progress.final('u-2')).toMatchObject({ status: 'rolled-back', reason: 'crash-loop' });
    expect(d.containers.running()).toEqual(runningOf(v1));
  });

  it('an app-only release after a system update keeps the installed slot', async () => {
    const d = await deviceOnV1();
    await d.update(d.target(sys2));
    const app3 = aSignedRelease({ version: '3.0.0', sequence: 3, containers: { web: web('3'), net } });
    await d.update(d.target(app3));
    expect(d.progress.final('u-3')?.status).toBe('succeeded');
    expect(d.boot.calls).toEqual(['install B', 'arm B', 'commit']);
    // The same rootfs again is not a system change either.
    const sys4 = aSignedRelease({
      version: '4.0.0',
      sequence: 4,
      containers: { web: web('4'), net },
      system: sys2.system,
    });
    await d.update(d.target(sys4));
    expect(d.progress.final('u-4')?.status).toBe('succeeded');
    expect(d.boot.calls).toEqual(['install B', 'arm B', 'commit']);
    expect(JSON.parse(d.files.text('current') ?? '{}')).toMatchObject({
      slot: 'B',
      system: { rootfs: digestOf('5') },
    });
  });

  it('refuses a kernel change without a new rootfs', async () => {
    const d = await deviceOnV1();
    await d.update(d.target(sys2));
    const k = aSignedRelease({
      version: '3.0.0',
      sequence: 3,
      containers: sys2.containers,
      system: { ...sys2.system, kernel: { digest: digestOf('7'), size: 1 } },
    });
    await d.update(d.target(k));
    expect(d.progress.final('u-3')).toMatchObject({ status: 'failed', reason: 'manifest-invalid' });
    expect(d.progress.final('u-3')?.message).toContain('kernel changed without a new system.rootfs');
  });

  it('refuses a system update on a device without boot control', async () => {
    const d = await deviceOnV1({ withBoot: false });
    await d.update(d.target(sys2));
    expect(d.progress.final('u-2')).toMatchObject({ status: 'failed', reason: 'install-failed' });
  });
});

describe('journal writes', () => {
  it("land in order even when a write is slow: the file always holds the engine's journal", async () => {
    const d = await deviceOnV1();
    d.files.slow = true;
    await d.update(d.target(v2));
    await d.update(
      d.target(aSignedRelease({ version: '3.0.0', sequence: 3, containers: { web: web('3'), net } })),
    );
    expect(JSON.parse(d.files.text('journal.json') ?? '{}')).toEqual(d.engine.snapshot);
    expect(await d.journalState()).toBe('idle');
  });
});

describe('journal faults', () => {
  it.each([
    ['truncated', (b: Buffer) => b.subarray(0, Math.floor(b.length / 2))],
    ['garbage', () => Buffer.from([0xff, 0x00, 0x13, 0x37])],
    ['zero-length', () => Buffer.alloc(0)],
    ['valid JSON, wrong shape', () => Buffer.from('{"spec":"fleet-update-journal@1","state":"dancing"}')],
  ])('a %s journal recovers to the last committed revision', async (_what, damage) => {
    const d = await deviceOnV1();
    d.engine.offer(d.target(v2));
    while (d.engine.state !== 'testing') await new Promise((r) => setImmediate(r));
    await d.engine.stop();
    d.files.files.set('journal.json', damage(d.files.files.get('journal.json') as Buffer));
    await d.restartAgent();
    expect(await d.journalState()).toBe('idle');
    expect(await d.committed()).toMatch(/^1-/);
    expect(d.containers.running()).toEqual(runningOf(v1));
    expect([...d.containers.instances.keys()].sort()).toEqual(runningOf(v1));
    expect(d.logs.some((l) => l.includes('journal-corrupt'))).toBe(true);
  });
});

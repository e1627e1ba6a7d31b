// Every state boundary, every scenario: the agent dies there, starts again, and the device ends
// on exactly the old or the new revision with exactly that revision's containers. This is the
// unit-level twin of the power-cut torture (issue 4 "Proof"), on fakes, so it runs in ms.
import { UpdateState } from '@fleet/protocol';
import { describe, expect, it } from 'vitest';
import { instancesOf } from '../reconcile/index.js';
import { effectiveManifest } from './revision.js';
import { aContainer, digestOf } from './testing/builders.js';
import { aSignedRelease, SimulatedDevice } from './testing/device.js';

const web = (c: string) => aContainer({ rootfs: { digest: digestOf(c), size: 1000 } });
const net = aContainer({ group: 'platform', rootfs: { digest: digestOf('9'), size: 1000 } });
const v1 = aSignedRelease({ version: '1.0.0', sequence: 1, containers: { web: web('1'), net } });
const app2 = aSignedRelease({ version: '2.0.0', sequence: 2, containers: { web: web('2'), net } });
const sys2 = aSignedRelease({
  version: '2.0.0',
  sequence: 2,
  containers: { web: web('2'), net },
  system: { rootfs: { digest: digestOf('5'), size: 5000, slot: 'ab' } },
});
const runningOf = (r: typeof v1) => instancesOf(effectiveManifest({ release: r, config: {} }));

type Scenario = { name: string; release: typeof v1; healthy: boolean };
const scenarios: Scenario[] = [
  { name: 'app-only, healthy', release: app2, healthy: true },
  { name: 'app-only, crash-looping', release: app2, healthy: false },
  { name: 'system, healthy', release: sys2, healthy: true },
  { name: 'system, crash-looping', release: sys2, healthy: false },
];
const points = UpdateState.options.flatMap((s) => [`${s}:before`, `${s}:after`]);

async function runWithCrash(s: Scenario, point: string) {
  const d = new SimulatedDevice();
  await d.start();
  await d.update(d.target(v1, { bakeSeconds: 2 }));
  if (!s.healthy)
    d.containers.behaviour = (c, spec) =>
      c === 'web' && spec.rootfs.digest === digestOf('2') ? 'crash-loop' : 'running';
  d.crashAt = point;
  await d.update(d.target(s.release, { bakeSeconds: 2 }));
  const fired = d.crashAt === null;
  // The agent is started again until the device is settled (reboots included).
  for (let i = 0; i < 6 && (fired || d.rebootRequested) && (await d.journalState()) !== 'idle'; i++) {
    if (d.rebootRequested) await d.reboot();
    else await d.restartAgent();
  }
  return { d, fired };
}

describe('crash at every state boundary', () => {
  for (const s of scenarios) {
    it.each(points)(`${s.name}: crash at %s ends on exactly one revision`, async (point) => {
      const { d } = await runWithCrash(s, point);
      expect(await d.journalState()).toBe('idle');
      const committed = await d.committed();
      expect(committed).toMatch(/^[12]-/);
      const on = committed?.startsWith('2-') ? s.release : v1;
      if (!s.healthy) expect(on).toBe(v1);
      expect(d.containers.running()).toEqual(runningOf(on));
      // No orphan: nothing defined beyond what runs.
      expect([...d.containers.instances.keys()].sort()).toEqual(runningOf(on));
      if (s.release.system) {
        expect(d.boot.booted).toBe(on === v1 ? 'A' : 'B');
        expect(d.boot.upgradeAvailable).toBe(false);
      }
    });
  }

  it.each([
    ['system, healthy', ['rolling-back', 'rollback-rebooting']],
    ['system, crash-looping', ['committing']],
  ])('the crash hook is reached at every boundary that %s passes', async (name, notPassed) => {
    const s = scenarios.find((x) => x.name === name) as Scenario;
    const reached: string[] = [];
    for (const p of points) if ((await runWithCrash(s, p)).fired) reached.push(p);
    expect(reached).toEqual(points.filter((p) => !notPassed.includes(p.split(':')[0] as string)));
  });
});

describe('loop guard', () => {
  it('an agent that dies in testing at every start rolls back after the resume limit', async () => {
    const d = new SimulatedDevice();
    await d.start();
    await d.update(d.target(v1, { bakeSeconds: 2 }));
    let deaths = 0;
    for (let i = 0; i < 10; i++) {
      d.crashAt = 'testing:after';
      if (i === 0) await d.update(d.target(app2, { bakeSeconds: 2 }));
      else await d.restartAgent();
      if (d.crashAt === null) deaths++;
      if ((await d.journalState()) === 'idle') break;
    }
    expect(deaths).toBe(4);
    expect(d.progress.final('u-2')).toMatchObject({ status: 'rolled-back', reason: 'internal-error' });
    expect(d.progress.final('u-2')?.message).toContain('restarted 4 times in testing');
    expect(d.containers.running()).toEqual(runningOf(v1));
    // And it is never tried again.
    await d.update(d.target(app2, { updateId: 'again' }));
    expect(d.progress.final('again')).toMatchObject({ reason: 'revision-failed-before' });
  });

  it('an agent that dies while rolling back at every start gives up and stays reconcilable', async () => {
    const d = new SimulatedDevice();
    await d.start();
    await d.update(d.target(v1, { bakeSeconds: 2 }));
    d.containers.behaviour = (c, spec) =>
      c === 'web' && spec.rootfs.digest === digestOf('2') ? 'crash-loop' : 'running';
    for (let i = 0; i < 10; i++) {
      d.crashAt = 'rolling-back:after';
      if (i === 0) await d.update(d.target(app2, { bakeSeconds: 2 }));
      else await d.restartAgent();
      if ((await d.journalState()) === 'idle') break;
    }
    expect(d.progress.final('u-2')).toMatchObject({ status: 'failed' });
    // The next start reconciles to the committed revision.
    await d.restartAgent();
    expect(d.containers.running()).toEqual(runningOf(v1));
  });
});

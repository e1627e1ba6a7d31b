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

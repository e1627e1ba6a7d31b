// The qemu proof of issue #8, end to end: a real hub on the host, a built qemu-aarch64 image
// booted by U-Boot in qemu-system-aarch64 with user-mode networking (the guest reaches the
// host's loopback as 10.0.2.2). The device provisions with its claim token and reports online;
// a system release (a new root filesystem slot image) switches it to slot B and it commits;
// a release whose kernel does not boot makes U-Boot fall back after bootlimit and the device
// reports the rollback with reason boot-failed. Needs root, qemu-system-arm, u-boot-qemu,
// g++-aarch64-linux-gnu, Postgres on 127.0.0.1:5432 and the agent bundle
// (`pnpm --filter @fleet/device-agent bundle`, built here when missing). About 5 minutes.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QemuDevice, run, waitFor } from './helpers/qemu-device.js';
import { prepareQemuFleet, type QemuFleet } from './helpers/qemu-fleet.js';

let dir: string;
let fleet: QemuFleet;
let device: QemuDevice;
let deviceId: string;

const context = () =>
  `--- serial ---\n${device?.log().slice(-8000) ?? ''}\n--- hub ---\n${fleet?.hub.output().slice(-3000) ?? ''}`;

/** Serial output of the boots after the first `n`. */
const bootsAfter = (n: number) =>
  device
    .log()
    .split(/----- boot \d+ -----/)
    .slice(n + 1)
    .join('\n');

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fleet-qemu-ota-'));
  fleet = await prepareQemuFleet(dir);
  const disk = join(dir, 'disk.img');
  await run('cp', ['--sparse=always', fleet.image, disk]);
  device = new QemuDevice({ disk, qemuArgs: fleet.qemuArgs, network: true });
}, 600_000);

afterAll(async () => {
  await device?.stop();
  if (process.env.FLEET_E2E_KEEP_LOG)
    await writeFile(process.env.FLEET_E2E_KEEP_LOG, device?.log() ?? '').catch(() => {});
  await fleet?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('qemu-aarch64 device with a hub on the host', () => {
  it('provisions with its claim token and reports online', async () => {
    device.start();
    // A fresh database: the only device is ours.
    const found = await waitFor(
      'the device to provision and come online',
      async () => (await fleet.devices()).find((d) => d.online),
      240_000,
      context,
    );
    deviceId = found.id;
    expect(found.currentSequence).toBeNull();
    await device.waitForLog(/FLEET: userspace slot=A release=qemu-aarch64-factory/, { timeoutMs: 1000 });
  });

  it('a system release switches it to slot B, which it commits and reports', async () => {
    const v2 = await fleet.variant(join(dir, 'rootfs-v2.ext4'), 'qemu-aarch64-1.1.0');
    const bootsBefore = device.boots;
    const manifest = await fleet.publishSystemRelease(v2, '1.1.0', 2, [deviceId]);
    expect(manifest.system?.rootfs?.slot).toBe('ab');
    const done = await waitFor(
      'the device to commit 1.1.0',
      async () => {
        const d = await fleet.device(deviceId);
        if (d.updateStatus === 'failed' || d.updateStatus === 'rolled-back')
          throw new Error(`update ended ${d.updateStatus}: ${d.updateReason}`);
        return d.currentSequence === manifest.sequence && d.updateState === 'idle' && d.online
          ? d
          : undefined;
      },
      600_000,
      context,
      2000,
    );
    expect(done.currentSequence).toBe(2);
    expect(device.boots).toBeGreaterThan(bootsBefore);
    expect(bootsAfter(bootsBefore)).toMatch(/FLEET: userspace slot=B release=qemu-aarch64-1\.1\.0/);
    const events = await fleet.updates(deviceId);
    expect(events.some((e) => e.releaseVersion === '1.1.0' && e.status === 'succeeded')).toBe(true);
  });

  it('a release with a broken kernel falls back after bootlimit and is reported rolled back (boot-failed)', async () => {
    const broken = await fleet.variant(join(dir, 'rootfs-broken.ext4'), 'qemu-aarch64-1.2.0', {
      brokenKernel: true,
    });
    // The 1.1.0 rollout must have finished before the fleet takes another.
    await waitFor(
      'the 1.1.0 rollout to finish',
      async () => {
        const page = await fleet.hub.api<{ items: { state: string }[] }>(
          'GET',
          `/rollouts?fleet=${encodeURIComponent(fleet.fleetName)}`,
        );
        return page.items.every((r) => r.state !== 'running' && r.state !== 'paused') ? true : undefined;
      },
      120_000,
      context,
    );
    const bootsBefore = device.boots;
    await fleet.publishSystemRelease(broken, '1.2.0', 3, [deviceId]);
    const rolledBack = await waitFor(
      'the device to report the rollback',
      async () => {
        const d = await fleet.device(deviceId);
        return d.updateStatus === 'rolled-back' && d.updateState === 'idle' && d.online ? d : undefined;
      },
      600_000,
      context,
      2000,
    );
    expect(rolledBack.updateReason).toBe('boot-failed');
    expect(rolledBack.currentSequence).toBe(2);
    // U-Boot tried slot A bootlimit times with the garbage kernel, then went back to B.
    const log = bootsAfter(bootsBefore);
    expect(log.match(/FLEET: slot A did not boot: reset/g)?.length).toBe(fleet.board.bootState.bootlimit);
    expect(log).toMatch(/falling back from slot A/);
    expect(log).toMatch(/FLEET: userspace slot=B release=qemu-aarch64-1\.1\.0/);
    expect(log).not.toMatch(/release=qemu-aarch64-1\.2\.0/);
    const events = await fleet.updates(deviceId);
    expect(
      events.some(
        (e) => e.releaseVersion === '1.2.0' && e.status === 'rolled-back' && e.reason === 'boot-failed',
      ),
    ).toBe(true);
  });
});

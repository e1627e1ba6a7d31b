import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bootInQemu, fleetMarkers, loadBoard } from '@fleet/board-support';
import type { BoardDefinition } from '@fleet/board-support';
import type { Slot } from '@fleet/board-support/boot';
import type { BuildResult } from '../../src/builder/build-image.js';
import { bootControlOn, build, freshCopy, partitionOffset, run } from './helpers.js';

// The qemu proof: a built qemu-aarch64 image booted by Debian's U-Boot in
// qemu-system-aarch64 (TCG). The boot env's fleet_args (appended to the kernel command line
// by boot.scr) carries `fleet.test=...`, which makes the init end the boot once userspace is
// reached. Each boot is one power cycle; a slot that does not boot resets (qemu exits).
// TODO(#8): extend with a hub on the host (guest 10.0.2.2) for provisioning and OTA.
let board: BoardDefinition;
let dir: string;
let built: BuildResult;

beforeAll(async () => {
  board = await loadBoard('qemu-aarch64');
  dir = await mkdtemp(join(tmpdir(), 'fleet-qemu-proof-'));
  const factory = join(dir, 'factory');
  await mkdir(factory);
  await writeFile(join(factory, 'release.json'), '{"release":"factory"}\n');
  built = await build('qemu-aarch64', join(dir, 'out'), { factoryDir: factory });
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

interface Boot {
  markers: string[];
  log: string;
}

async function powerOn(disk: string): Promise<Boot> {
  const result = await bootInQemu(board, { disk, timeoutMs: 120_000 });
  expect(result.timedOut, result.log.slice(-2000)).toBe(false);
  return { markers: fleetMarkers(result.log), log: result.log };
}

function scriptSlot(boot: Boot): string | undefined {
  return boot.markers.find((m) => m.startsWith('FLEET: slot='));
}

function userspace(boot: Boot): string | undefined {
  return boot.markers.find((m) => m.startsWith('FLEET: userspace'));
}

/** Replace /boot/Image of a slot with garbage, in place in the disk image (debugfs, no mount). */
async function breakKernel(disk: string, role: 'rootfs-a' | 'rootfs-b'): Promise<void> {
  const garbage = join(dir, 'garbage-Image');
  await writeFile(garbage, Buffer.alloc(4 * 1024 * 1024, 0x5a));
  await run('debugfs', ['-w', '-R', 'rm /boot/Image', `${disk}?offset=${partitionOffset(built, role)}`]);
  await run('debugfs', [
    '-w',
    '-R',
    `write ${garbage} /boot/Image`,
    `${disk}?offset=${partitionOffset(built, role)}`,
  ]);
}

describe('qemu-aarch64 image in qemu-system-aarch64 with U-Boot', () => {
  it('factory image: the boot script chooses slot A, the init reaches userspace and mounts /storage', async () => {
    const disk = await freshCopy(built.image, join(dir, 'factory.img'));
    const { store } = bootControlOn(board, disk, () => 'A');
    await store.update((vars) => ({ ...vars, fleet_args: 'fleet.test=poweroff' }));
    const boot = await powerOn(disk);
    expect(boot.markers[0]).toBe('FLEET: A/B boot script (qemu-aarch64)');
    expect(scriptSlot(boot)).toBe(
      'FLEET: slot=A rootpart=2 upgrade_available=0 bootcount=0 bootlimit=3 fallback_from=',
    );
    expect(userspace(boot)).toMatch(/^FLEET: userspace slot=A release=qemu-aarch64-factory uptime=/);
    expect(boot.markers).toContain('FLEET: data partition mounted at /storage');
    expect(boot.markers.at(-1)).toBe('FLEET: test poweroff');
    expect(boot.log).toContain('fleet.slot=A');
    // The data partition kept what the init appended (it is the device's writable storage).
    const history = await run('debugfs', [
      '-R',
      'cat /boot-history',
      `${disk}?offset=${partitionOffset(built, 'data')}`,
    ]);
    expect(history.stdout).toMatch(/^[\d.]+ slot=A\n$/);
    const factory = await run('debugfs', [
      '-R',
      'cat /factory/release.json',
      `${disk}?offset=${partitionOffset(built, 'data')}`,
    ]);
    expect(factory.stdout).toBe('{"release":"factory"}\n');
  });

  it('a try-boot of B with a broken kernel falls back to A after bootlimit, and the agent sees why', async () => {
    const disk = await freshCopy(built.image, join(dir, 'broken-b.img'));
    await breakKernel(disk, 'rootfs-b');
    let booted: Slot = 'A';
    const { store, control } = bootControlOn(board, disk, () => booted);
    await control.armTryBoot('B');
    await store.update((vars) => ({ ...vars, fleet_args: 'fleet.test=poweroff' }));

    const boots: Boot[] = [];
    for (let i = 0; i < 4; i++) boots.push(await powerOn(disk));
    for (const [i, boot] of boots.slice(0, 3).entries()) {
      expect(scriptSlot(boot)).toBe(
        `FLEET: slot=B rootpart=3 upgrade_available=1 bootcount=${i + 1} bootlimit=3 fallback_from=`,
      );
      expect(boot.log).toContain('Bad Linux ARM64 Image magic!');
      expect(boot.markers.at(-1)).toBe('FLEET: slot B did not boot: reset');
      expect(userspace(boot)).toBeUndefined();
    }
    const last = boots[3];
    if (!last) throw new Error('no fourth boot');
    expect(last.markers).toContain('FLEET: bootcount 4 > bootlimit 3: falling back from slot B');
    expect(scriptSlot(last)).toBe(
      'FLEET: slot=A rootpart=2 upgrade_available=0 bootcount=4 bootlimit=3 fallback_from=B',
    );
    expect(userspace(last)).toMatch(/^FLEET: userspace slot=A /);

    booted = 'A';
    expect(await control.verifyBoot()).toEqual({
      bootedSlot: 'A',
      triedSlot: 'B',
      fellBack: true,
      bootcount: 4,
    });
    // And the next power-on stays on A without counting.
    expect(scriptSlot(await powerOn(disk))).toBe(
      'FLEET: slot=A rootpart=2 upgrade_available=0 bootcount=4 bootlimit=3 fallback_from=B',
    );
  });

  it('a try-boot of a good B is committed by boot-control inside the guest and then sticks', async () => {
    const disk = await freshCopy(built.image, join(dir, 'good-b.img'));
    let booted: Slot = 'A';
    const { store, control } = bootControlOn(board, disk, () => booted);
    await control.armTryBoot('B');
    await store.update((vars) => ({ ...vars, fleet_args: 'fleet.test=commit' }));

    const trial = await powerOn(disk);
    expect(scriptSlot(trial)).toBe(
      'FLEET: slot=B rootpart=3 upgrade_available=1 bootcount=1 bootlimit=3 fallback_from=',
    );
    // The guest ran the bundled boot-control CLI (arm64 node) against /dev/vda's env.
    const verify = trial.markers.find((m) => m.startsWith('FLEET: verify-boot '));
    const commit = trial.markers.find((m) => m.startsWith('FLEET: commit '));
    expect(JSON.parse(verify?.slice('FLEET: verify-boot '.length) ?? 'null')).toEqual({
      ok: true,
      verb: 'verify-boot',
      result: { bootedSlot: 'B', triedSlot: 'B', fellBack: false, bootcount: 1 },
    });
    expect(JSON.parse(commit?.slice('FLEET: commit '.length) ?? 'null')).toEqual({
      ok: true,
      verb: 'commit',
      result: { slot: 'B', changed: true },
    });

    booted = 'B';
    expect(await control.verifyBoot()).toEqual({ bootedSlot: 'B', fellBack: false, bootcount: 0 });
    await store.update((vars) => ({ ...vars, fleet_args: 'fleet.test=poweroff' }));
    const after = await powerOn(disk);
    expect(scriptSlot(after)).toBe(
      'FLEET: slot=B rootpart=3 upgrade_available=0 bootcount=0 bootlimit=3 fallback_from=',
    );
    expect(userspace(after)).toMatch(/^FLEET: userspace slot=B /);
  });

  it('power cuts around the boot script env save never leave the device without a good slot', async () => {
    const disk = await freshCopy(built.image, join(dir, 'power-cuts.img'));
    await breakKernel(disk, 'rootfs-b');
    const { store, control } = bootControlOn(board, disk, () => 'A');
    await control.armTryBoot('B');
    await store.update((vars) => ({ ...vars, fleet_args: 'fleet.test=poweroff' }));
    // Pull the plug 0-40 ms after the script has read the env: before, during or after its save.
    for (let cut = 0; cut < 6; cut++) {
      const controller = new AbortController();
      let log = '';
      const delay = Math.floor(Math.random() * 40);
      const result = await bootInQemu(board, {
        disk,
        timeoutMs: 120_000,
        signal: controller.signal,
        onOutput: (text) => {
          log += text;
          if (log.includes('FLEET: env copy=')) setTimeout(() => controller.abort(), delay);
        },
      });
      expect(result.timedOut).toBe(false);
      // Whatever the cut hit, at least one env copy is intact.
      await store.read();
    }
    // Power back on until userspace: bootlimit + 1 boots at most, and it must be slot A.
    let reached: Boot | undefined;
    for (let i = 0; i < 4 && !reached; i++) {
      const boot = await powerOn(disk);
      if (userspace(boot)) reached = boot;
    }
    expect(userspace(reached ?? { markers: [], log: '' })).toMatch(/^FLEET: userspace slot=A /);
    expect(await control.verifyBoot()).toMatchObject({ bootedSlot: 'A', triedSlot: 'B', fellBack: true });
  });

  it('boot-control in the guest installs an image into the inactive slot partition with read-back, and refuses the running one', async () => {
    const disk = await freshCopy(built.image, join(dir, 'install.img'));
    const payload = randomBytes(4 * 1024 * 1024);
    const digest = `sha256:${createHash('sha256').update(payload).digest('hex')}`;
    await writeFile(join(dir, 'payload.bin'), payload);
    await writeFile(
      join(dir, 'fleet-test.sh'),
      [
        `echo "FLEET: install $(boot-control --sha256 ${digest} install /storage/payload.bin B)"`,
        'echo "FLEET: refused $(boot-control install /storage/payload.bin A)"',
        '',
      ].join('\n'),
    );
    const data = `${disk}?offset=${partitionOffset(built, 'data')}`;
    await run('debugfs', ['-w', '-R', `write ${join(dir, 'payload.bin')} payload.bin`, data]);
    await run('debugfs', ['-w', '-R', `write ${join(dir, 'fleet-test.sh')} fleet-test.sh`, data]);
    const { store } = bootControlOn(board, disk, () => 'A');
    await store.update((vars) => ({ ...vars, fleet_args: 'fleet.test=script' }));

    const boot = await powerOn(disk);
    const install = boot.markers.find((m) => m.startsWith('FLEET: install '));
    expect(JSON.parse(install?.slice('FLEET: install '.length) ?? 'null')).toEqual({
      ok: true,
      verb: 'install',
      result: { slot: 'B', target: '/dev/vda3', bytes: payload.length, digest },
    });
    const refused = boot.markers.find((m) => m.startsWith('FLEET: refused '));
    expect(JSON.parse(refused?.slice('FLEET: refused '.length) ?? 'null')).toEqual({
      ok: false,
      verb: 'install',
      error: { code: 'slot-busy', message: 'cannot install into slot A: it is the running slot' },
    });
    // The bytes are on partition 3 of the disk image.
    const handle = await open(disk, 'r');
    const onDisk = Buffer.alloc(payload.length);
    await handle.read(onDisk, 0, payload.length, partitionOffset(built, 'rootfs-b'));
    await handle.close();
    expect(onDisk.equals(payload)).toBe(true);
  });

  it('power cuts while the guest commits leave B either on trial or committed, and a later boot commits', async () => {
    const disk = await freshCopy(built.image, join(dir, 'commit-cuts.img'));
    let booted: Slot = 'A';
    const { store, control } = bootControlOn(board, disk, () => booted);
    await control.armTryBoot('B');
    await store.update((vars) => ({ ...vars, fleet_args: 'fleet.test=commit', bootlimit: '9' }));
    booted = 'B';
    // Cut 0-4 s after verify-boot answered: node starting, commit writing, or already done.
    for (let cut = 0; cut < 3; cut++) {
      const controller = new AbortController();
      let log = '';
      const delay = Math.floor(Math.random() * 4000);
      await bootInQemu(board, {
        disk,
        timeoutMs: 120_000,
        signal: controller.signal,
        onOutput: (text) => {
          log += text;
          if (log.includes('FLEET: verify-boot ')) setTimeout(() => controller.abort(), delay);
        },
      });
      const verdict = await control.verifyBoot();
      expect(verdict.bootedSlot).toBe('B');
      expect([undefined, 'B']).toContain(verdict.triedSlot);
      expect(verdict.fellBack).toBe(false);
    }
    const last = await powerOn(disk);
    expect(userspace(last)).toMatch(/^FLEET: userspace slot=B /);
    expect(await control.verifyBoot()).toEqual({ bootedSlot: 'B', fellBack: false, bootcount: 0 });
  });
});

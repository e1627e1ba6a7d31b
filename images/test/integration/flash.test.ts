import { createHash } from 'node:crypto';
import { open, mkdir, mkdtemp, readFile, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeExt4, makeVfat } from '../../src/builder/filesystems.js';
import { writeAt } from '../../src/builder/disk.js';
import { flashImage } from '../../src/flash/flash.js';
import { checkTarget } from '../../src/flash/target-safety.js';
import { runFleetImage } from '../../src/cli/main.js';
import { run } from './helpers.js';

// A small two-partition image (FAT + ext4, with bmap) flashed onto "used cards": files and
// loop devices pre-filled with 0xff, then checked with fsck and byte comparisons.
let dir: string;
let image: string;
const MiB = 1024 * 1024;
const FAT_AT = 1 * MiB;
const EXT_AT = 33 * MiB;

async function usedCard(path: string, size: number): Promise<string> {
  const handle = await open(path, 'w');
  const ff = Buffer.alloc(MiB, 0xff);
  for (let i = 0; i < size / MiB; i++) await handle.write(ff, 0, MiB, i * MiB);
  await handle.close();
  return path;
}

async function extract(from: string, offset: number, length: number, to: string): Promise<string> {
  const src = await open(from, 'r');
  const buf = Buffer.alloc(length);
  await src.read(buf, 0, length, offset);
  await src.close();
  await writeFile(to, buf);
  return to;
}

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fleet-flash-'));
  const tree = join(dir, 'tree');
  await mkdir(join(tree, 'etc'), { recursive: true });
  await writeFile(join(tree, 'etc/hello'), 'hello from the image\n');
  // A file with long zero runs: its zero blocks must read back as zero on a dirty card.
  await writeFile(join(tree, 'zeros-and-data'), Buffer.concat([Buffer.alloc(3 * MiB), Buffer.from('tail')]));
  await makeExt4(tree, join(dir, 'root.ext4'), {
    sizeBytes: 16 * MiB,
    label: 'root',
    uuid: '11111111-2222-4333-8444-555555555555',
    hashSeed: '11111111-2222-4333-8444-666666666666',
    epoch: 1767225600,
  });
  await writeFile(join(dir, 'boot.txt'), 'boot file\n');
  await makeVfat([{ src: join(dir, 'boot.txt'), dest: 'boot.txt' }], join(dir, 'boot.vfat'), {
    sizeBytes: 32 * MiB,
    label: 'BOOT',
    volumeId: '12345678',
    epoch: 1767225600,
  });
  image = join(dir, 'small.img');
  await writeFile(image, '');
  await truncate(image, 64 * MiB);
  await run('sh', [
    '-c',
    `printf 'label: dos\\nstart=2048, size=65536, type=c\\nstart=67584, size=32768, type=83\\n' | sfdisk -q ${image}`,
  ]);
  await writeAt(image, join(dir, 'boot.vfat'), FAT_AT, 32 * MiB);
  await writeAt(image, join(dir, 'root.ext4'), EXT_AT, 16 * MiB);
  await run('bmaptool', ['create', '-o', `${image}.bmap`, image]);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

async function assertHealthy(card: string): Promise<void> {
  const root = await extract(card, EXT_AT, 16 * MiB, join(dir, 'check.ext4'));
  await run('e2fsck', ['-fn', root]);
  expect((await run('debugfs', ['-R', 'cat /etc/hello', root])).stdout).toBe('hello from the image\n');
  const zeros = (
    await run('sh', ['-c', `debugfs -R 'cat /zeros-and-data' ${root} 2>/dev/null | sha256sum`])
  ).stdout.split(' ')[0];
  const expected = createHash('sha256')
    .update(Buffer.concat([Buffer.alloc(3 * MiB), Buffer.from('tail')]))
    .digest('hex');
  expect(zeros).toBe(expected);
  const fat = await extract(card, FAT_AT, 32 * MiB, join(dir, 'check.vfat'));
  await run('fsck.vfat', ['-n', fat]);
  expect(
    (await run('mtype', ['-i', fat, '::boot.txt'], { env: { ...process.env, MTOOLS_SKIP_CHECK: '1' } }))
      .stdout,
  ).toBe('boot file\n');
}

describe('fleet-image flash onto a file', () => {
  it('writes only mapped blocks onto a dirty card, verifies by read-back, and the filesystems are intact', async () => {
    const card = await usedCard(join(dir, 'card.img'), 128 * MiB);
    const progress: string[] = [];
    const result = await flashImage({
      image,
      device: card,
      onProgress: (_d, _t, phase) => progress.push(phase),
    });
    expect(result.usedBmap).toBe(true);
    expect(result.bytesWritten).toBeLessThan(32 * MiB);
    expect(result.rangesVerified).toBeGreaterThan(1);
    expect(progress).toContain('write');
    expect(progress).toContain('verify');
    expect((await stat(card)).size).toBe(128 * MiB);
    await assertHealthy(card);
  });

  it('through the CLI: a progress bar on stderr, a summary on stdout', async () => {
    const card = await usedCard(join(dir, 'card-cli.img'), 64 * MiB);
    let progress = '';
    const out = await runFleetImage(['flash', image, card], new AbortController().signal, {
      isTTY: false,
      write: (t: string) => (progress += t),
    });
    expect(out.exitCode).toBe(0);
    expect(progress).toMatch(/^write +\[#{30}\] 100% /m);
    expect(progress).toMatch(/^verify +\[#{30}\] 100% /m);
    expect(out.stdout).toMatch(/^flashed .* \(bmap\), \d+ ranges verified by read-back\n$/);
    await assertHealthy(card);
  });

  it('refuses a corrupt image (bmap checksum) and a .bmap that belongs to another image', async () => {
    const bad = join(dir, 'corrupt.img');
    await run('cp', ['--sparse=always', image, bad]);
    await run('cp', [`${image}.bmap`, `${bad}.bmap`]);
    const handle = await open(bad, 'r+');
    await handle.write(Buffer.from('rot'), 0, 3, EXT_AT + 1024 + 100);
    await handle.close();
    await expect(
      flashImage({ image: bad, device: await usedCard(join(dir, 'c2.img'), 64 * MiB) }),
    ).rejects.toThrow(/do not match the bmap checksum: corrupt image/);
    const other = join(dir, 'other.img');
    await writeFile(other, Buffer.alloc(MiB));
    await expect(
      flashImage({ image: other, bmap: `${image}.bmap`, device: join(dir, 'c2.img') }),
    ).rejects.toThrow('wrong .bmap for this image');
    const tampered = join(dir, 'tampered.bmap');
    await writeFile(
      tampered,
      (await readFile(`${image}.bmap`, 'utf8')).replace(
        /<Range chksum="[0-9a-f]+"> 0 <\/Range>/,
        '<Range> 0 </Range>',
      ),
    );
    await expect(flashImage({ image, bmap: tampered, device: join(dir, 'c2.img') })).rejects.toThrow(
      'bmap: file checksum mismatch',
    );
  });

  it('refuses to flash the image onto itself and usage errors exit 2', async () => {
    await expect(flashImage({ image, device: image })).rejects.toThrow('is the image itself');
    expect((await runFleetImage(['flash', image], new AbortController().signal)).exitCode).toBe(2);
    expect(
      (await runFleetImage(['flash', image, join(dir, 'missing-dev')], new AbortController().signal)).stderr,
    ).toContain('does not exist');
  });
});

describe('fleet-image flash onto block devices', () => {
  it('flashes a loop device and refuses it while a partition of it is mounted', async () => {
    const backing = await usedCard(join(dir, 'loop-backing.img'), 128 * MiB);
    const loop = (await run('losetup', ['-f', '--show', '-P', backing])).stdout.trim();
    const mnt = join(dir, 'mnt');
    try {
      const result = await flashImage({ image, device: loop });
      expect(result.target).toMatchObject({ kind: 'block', capacity: 128 * MiB });
      await assertHealthy(backing);
      await run('partx', ['-u', loop]);
      await mkdir(mnt);
      await run('mount', ['-o', 'ro', `${loop}p2`, mnt]);
      const before = await readFile(backing);
      await expect(flashImage({ image, device: loop })).rejects.toThrow(
        `${loop}p2 is mounted at ${mnt}: unmount it first`,
      );
      expect((await readFile(backing)).equals(before)).toBe(true);
      await expect(checkTarget(`${loop}p1`)).rejects.toThrow('flash the whole disk');
    } finally {
      await run('umount', [mnt]).catch(() => {});
      await run('losetup', ['-d', loop]);
    }
  });

  it('refuses the disk holding / (checked without writing)', async () => {
    const { stdout } = await run('findmnt', ['-n', '-o', 'SOURCE', '/']);
    const rootSource = stdout.trim();
    const disk = `/dev/${(await run('lsblk', ['-no', 'PKNAME', rootSource])).stdout.trim() || rootSource.replace('/dev/', '')}`;
    await expect(checkTarget(disk)).rejects.toThrow(
      /is the disk holding \/ .*refusing to overwrite the running system|is mounted at \//,
    );
  });

  it('refuses a device smaller than the image', async () => {
    const backing = await usedCard(join(dir, 'small-backing.img'), 16 * MiB);
    const loop = (await run('losetup', ['-f', '--show', backing])).stdout.trim();
    try {
      await expect(flashImage({ image, device: loop })).rejects.toThrow(
        `${loop} holds ${16 * MiB} bytes, the image needs ${64 * MiB}`,
      );
    } finally {
      await run('losetup', ['-d', loop]);
    }
  });
});

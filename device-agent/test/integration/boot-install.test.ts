import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FileBootControl, defaultFileBootPaths, writeAndVerify } from '../../src/boot/index.js';

// Slot writes onto real block devices (loop devices, root) and their failure modes.
const run = promisify(execFile);
let dir: string;
const loops: string[] = [];

async function loopDevice(sizeBytes: number): Promise<{ device: string; backing: string }> {
  const backing = join(dir, `loop-${loops.length}.img`);
  await writeFile(backing, '');
  await truncate(backing, sizeBytes);
  const { stdout } = await run('losetup', ['-f', '--show', backing]);
  const device = stdout.trim();
  loops.push(device);
  return { device, backing };
}

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fleet-boot-install-'));
});
afterEach(async () => {
  for (const device of loops.splice(0)) await run('losetup', ['-d', device]);
  await rm(dir, { recursive: true, force: true });
});

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

describe('slot install onto a block device', () => {
  it('writes, drops the buffer cache, reads back and matches the digest', async () => {
    const { device, backing } = await loopDevice(8 << 20);
    const image = Buffer.alloc(3 << 20);
    for (let i = 0; i < image.length; i += 4096) image.writeUInt32LE(i, i);
    const result = await writeAndVerify(
      Readable.from([image.subarray(0, 1 << 20), image.subarray(1 << 20)]),
      device,
      { expectedDigest: sha(image) },
    );
    expect(result).toEqual({ bytes: image.length, digest: sha(image) });
    expect((await readFile(backing)).subarray(0, image.length).equals(image)).toBe(true);
  });

  it('refuses an image larger than the partition, naming both sizes', async () => {
    const { device } = await loopDevice(1 << 20);
    const image = join(dir, 'big.img');
    await writeFile(image, Buffer.alloc(2 << 20, 1));
    await expect(writeAndVerify(image, device)).rejects.toThrow(
      `image is ${2 << 20} bytes but ${device} holds ${1 << 20}`,
    );
    // A stream has no size up front: the write stops at the end of the device.
    await expect(writeAndVerify(Readable.from([Buffer.alloc(2 << 20, 1)]), device)).rejects.toThrow(
      `image exceeds ${device}: more than ${1 << 20} bytes`,
    );
  });
});

describe('slot install aborts and bad input', () => {
  it('an aborted install leaves the slot unarmed', async () => {
    const control = new FileBootControl(defaultFileBootPaths(dir));
    await control.ensureInitialized();
    const controller = new AbortController();
    async function* chunks() {
      yield Buffer.alloc(1 << 20);
      controller.abort();
      yield Buffer.alloc(1 << 20);
    }
    await expect(
      control.install(Readable.from(chunks()), 'B', { signal: controller.signal }),
    ).rejects.toThrow(/abort/i);
    expect(await control.verifyBoot()).toEqual({ bootedSlot: 'A', fellBack: false, bootcount: 0 });
  });

  it('rejects a malformed expected digest before writing', async () => {
    const target = join(dir, 'slot.img');
    await expect(
      writeAndVerify(Readable.from([Buffer.from('x')]), target, { expectedDigest: 'md5:abc' }),
    ).rejects.toThrow('expected digest "md5:abc" is not sha256:<64 hex>');
    await expect(readFile(target)).rejects.toThrow('ENOENT');
  });
});

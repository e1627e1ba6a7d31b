import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, readFile, realpath, stat } from 'node:fs/promises';
import { basename } from 'node:path';
import type { Readable } from 'node:stream';
import { BootControlError } from './boot-control.js';
import type { InstallOptions } from './boot-control.js';

const CHUNK = 1 << 20;

function normaliseDigest(digest: string): string {
  const hex = digest.startsWith('sha256:') ? digest.slice(7) : digest;
  if (!/^[0-9a-f]{64}$/.test(hex)) {
    throw new BootControlError(
      'install-failed',
      `expected digest ${JSON.stringify(digest)} is not sha256:<64 hex>`,
    );
  }
  return `sha256:${hex}`;
}

/** Capacity of a block device (from sysfs), or undefined for a regular file (grows as needed). */
export async function targetCapacity(target: string): Promise<number | undefined> {
  const st = await stat(target).catch(() => undefined);
  if (!st?.isBlockDevice()) return undefined;
  // /dev/disk/by-*/ names are symlinks; sysfs knows the kernel name.
  const name = basename(await realpath(target));
  const sectors = await readFile(`/sys/class/block/${name}/size`, 'utf8').catch(() => undefined);
  if (sectors === undefined) {
    throw new BootControlError(
      'install-failed',
      `cannot read the size of block device ${target} from /sys/class/block/${name}/size`,
    );
  }
  return Number(sectors.trim()) * 512;
}

async function* chunksOf(source: string | Readable): AsyncGenerator<Buffer> {
  const stream = typeof source === 'string' ? createReadStream(source, { highWaterMark: CHUNK }) : source;
  for await (const chunk of stream) {
    yield Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk as Uint8Array);
  }
}

/**
 * After fsync, drop the kernel's cached pages of a block device (BLKFLSBUF via `blockdev`,
 * in util-linux and busybox) so the read-back comes from the medium, not from memory.
 */
async function dropBufferCache(device: string): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    execFile('blockdev', ['--flushbufs', device], (error, _stdout, stderr) => {
      if (error)
        reject(
          new BootControlError(
            'verify-failed',
            `blockdev --flushbufs ${device} failed: ${stderr.trim() || error.message}`,
          ),
        );
      else resolve();
    });
  });
}

/**
 * Write an image into a slot target (block device or file), then read the written range
 * back and compare digests. For a block device the buffer cache is dropped first, so the
 * read-back checks the medium; for a file it checks what the kernel holds.
 */
export async function writeAndVerify(
  source: string | Readable,
  target: string,
  options: InstallOptions = {},
): Promise<{ bytes: number; digest: string }> {
  const expected = options.expectedDigest ? normaliseDigest(options.expectedDigest) : undefined;
  const capacity = await targetCapacity(target);
  const total = typeof source === 'string' ? (await stat(source)).size : undefined;
  if (capacity !== undefined && total !== undefined && total > capacity) {
    throw new BootControlError('too-large', `image is ${total} bytes but ${target} holds ${capacity}`);
  }
  const isFile = capacity === undefined;
  const handle = await open(target, isFile ? 'w' : 'r+');
  const hash = createHash('sha256');
  let written = 0;
  try {
    for await (const chunk of chunksOf(source)) {
      options.signal?.throwIfAborted();
      if (capacity !== undefined && written + chunk.length > capacity) {
        throw new BootControlError('too-large', `image exceeds ${target}: more than ${capacity} bytes`);
      }
      hash.update(chunk);
      let off = 0;
      while (off < chunk.length) {
        const { bytesWritten } = await handle.write(chunk, off, chunk.length - off, written + off);
        off += bytesWritten;
      }
      written += chunk.length;
      options.onProgress?.(written, total);
    }
    await handle.sync();
  } finally {
    await handle.close();
  }
  const digest = `sha256:${hash.digest('hex')}`;
  if (expected && digest !== expected) {
    throw new BootControlError(
      'verify-failed',
      `image digest ${digest} differs from the expected ${expected}`,
    );
  }
  if (capacity !== undefined) await dropBufferCache(target);
  const readBack = await digestRange(target, written, options.signal);
  if (readBack !== digest) {
    throw new BootControlError('verify-failed', `read-back of ${target} gives ${readBack}, wrote ${digest}`);
  }
  return { bytes: written, digest };
}

export async function digestRange(path: string, length: number, signal?: AbortSignal): Promise<string> {
  const hash = createHash('sha256');
  const handle = await open(path, 'r');
  try {
    const buf = Buffer.allocUnsafe(CHUNK);
    let pos = 0;
    while (pos < length) {
      signal?.throwIfAborted();
      const { bytesRead } = await handle.read(buf, 0, Math.min(CHUNK, length - pos), pos);
      if (bytesRead === 0) break;
      hash.update(buf.subarray(0, bytesRead));
      pos += bytesRead;
    }
  } finally {
    await handle.close();
  }
  return `sha256:${hash.digest('hex')}`;
}

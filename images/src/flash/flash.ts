import { createHash } from 'node:crypto';
import { open, readFile, stat, truncate } from 'node:fs/promises';
import { run } from '../builder/exec.js';
import { parseBmap, rangeBytes } from './bmap.js';
import type { Bmap, BmapRange } from './bmap.js';
import { UnsafeTargetError, checkTarget } from './target-safety.js';
import type { TargetInfo } from './target-safety.js';

export interface FlashOptions {
  image: string;
  device: string;
  /** Block map; default `<image>.bmap` when it exists. Without one the whole image is written. */
  bmap?: string;
  signal?: AbortSignal;
  onProgress?: (done: number, total: number, phase: 'write' | 'verify') => void;
}

export interface FlashResult {
  target: TargetInfo;
  bytesWritten: number;
  /** Ranges checked by read-back after the write (all mapped ranges). */
  rangesVerified: number;
  usedBmap: boolean;
}

const CHUNK = 1 << 20;

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/**
 * Write an image onto a device (or file), bmap-aware: only mapped ranges are written, each
 * range's checksum is checked on the image before writing and on the device after, once the
 * data is synced and (for block devices) the kernel's buffer cache for it is dropped so the
 * read-back comes from the medium.
 */
export async function flashImage(options: FlashOptions): Promise<FlashResult> {
  const { image, device, signal } = options;
  const target = await checkTarget(device, image);
  const imageSize = (await stat(image)).size;
  const bmapPath = options.bmap ?? ((await exists(`${image}.bmap`)) ? `${image}.bmap` : undefined);
  const bmap: Bmap = bmapPath
    ? parseBmap(await readFile(bmapPath, 'utf8'))
    : {
        version: 'none',
        imageSize,
        blockSize: 4096,
        blocksCount: Math.ceil(imageSize / 4096),
        mappedBlocksCount: Math.ceil(imageSize / 4096),
        ranges: [{ first: 0, last: Math.ceil(imageSize / 4096) - 1 }],
      };
  if (bmap.imageSize !== imageSize)
    throw new Error(
      `bmap says the image is ${bmap.imageSize} bytes, ${image} is ${imageSize}: wrong .bmap for this image`,
    );
  if (target.capacity !== undefined && target.capacity < imageSize) {
    throw new UnsafeTargetError(`${device} holds ${target.capacity} bytes, the image needs ${imageSize}`);
  }
  if (target.kind === 'file' && (await stat(device)).size < imageSize) await truncate(device, imageSize);

  const total = bmap.ranges.reduce((sum, r) => sum + rangeBytes(bmap, r).length, 0);
  const src = await open(image, 'r');
  const dst = await open(device, 'r+');
  const buf = Buffer.allocUnsafe(CHUNK);
  let written = 0;
  // Ranges without a bmap checksum are verified against the image bytes we hashed while writing.
  const digests = new Map<BmapRange, string>();
  try {
    for (const range of bmap.ranges) {
      const { offset, length } = rangeBytes(bmap, range);
      const hash = createHash(bmap.checksumType ?? 'sha256');
      for (let pos = 0; pos < length;) {
        signal?.throwIfAborted();
        const n = Math.min(CHUNK, length - pos);
        const { bytesRead } = await src.read(buf, 0, n, offset + pos);
        if (bytesRead !== n) throw new Error(`${image}: short read at ${offset + pos}`);
        hash.update(buf.subarray(0, n));
        let off = 0;
        while (off < n) off += (await dst.write(buf, off, n - off, offset + pos + off)).bytesWritten;
        pos += n;
        written += n;
        options.onProgress?.(written, total, 'write');
      }
      const digest = hash.digest('hex');
      if (range.checksum && digest !== range.checksum) {
        throw new Error(
          `image ${image} blocks ${range.first}-${range.last} do not match the bmap checksum: corrupt image (device partly written, re-flash)`,
        );
      }
      digests.set(range, range.checksum ?? digest);
    }
    await dst.sync();
  } finally {
    await src.close();
    await dst.close();
  }
  if (target.kind === 'block') await run('blockdev', ['--flushbufs', device]);

  const check = await open(device, 'r');
  let verified = 0;
  let checkedBytes = 0;
  try {
    for (const range of bmap.ranges) {
      const { offset, length } = rangeBytes(bmap, range);
      const hash = createHash(bmap.checksumType ?? 'sha256');
      for (let pos = 0; pos < length;) {
        signal?.throwIfAborted();
        const n = Math.min(CHUNK, length - pos);
        const { bytesRead } = await check.read(buf, 0, n, offset + pos);
        if (bytesRead !== n) throw new Error(`${device}: short read at ${offset + pos} during verification`);
        hash.update(buf.subarray(0, n));
        pos += n;
        checkedBytes += n;
        options.onProgress?.(checkedBytes, total, 'verify');
      }
      if (hash.digest('hex') !== digests.get(range)) {
        throw new Error(
          `read-back of ${device} blocks ${range.first}-${range.last} differs from the image: the medium did not keep what was written`,
        );
      }
      verified += 1;
    }
  } finally {
    await check.close();
  }
  return { target, bytesWritten: written, rangesVerified: verified, usedBmap: bmapPath !== undefined };
}

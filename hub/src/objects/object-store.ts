import { createHash, randomBytes } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, open, rename, rm, stat } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Transform } from 'node:stream';

export interface StoredObjectStat {
  size: number;
  mtime: Date;
}

export type PutResult =
  | { ok: true; size: number; created: boolean }
  | { ok: false; reason: 'digest-mismatch'; actual: string }
  | { ok: false; reason: 'too-large'; limit: number }
  | { ok: false; reason: 'size-mismatch'; expected: number; actual: number };

/** Where object bytes live. The filesystem by default; an S3-compatible store would implement the same. */
export interface ObjectStore {
  stat(hex: string): Promise<StoredObjectStat | null>;
  /** Inclusive byte range; whole object when absent. */
  read(hex: string, range?: { start: number; end: number }): Readable;
  /**
   * Streams `body` in, verifying the sha256 equals `hex`. Nothing becomes visible under the
   * digest unless it matched: bytes go to a temp file, are fsynced, then renamed into place.
   */
  put(
    hex: string,
    body: Readable,
    limits: { maxBytes: number; expectedSize?: number | undefined },
    signal?: AbortSignal,
  ): Promise<PutResult>;
}

export const OBJECT_STORE = Symbol.for('fleet.hub.ObjectStore');

class LimitExceeded extends Error {}

/** `<root>/sha256/<hex>`, the same layout as the agent's store; temp files in `<root>/tmp`. */
export class FsObjectStore implements ObjectStore {
  constructor(private readonly root: string) {}

  private path(hex: string): string {
    if (!/^[0-9a-f]{64}$/.test(hex)) throw new RangeError(`not a sha256 hex digest: ${hex}`);
    return join(this.root, 'sha256', hex);
  }

  async stat(hex: string): Promise<StoredObjectStat | null> {
    try {
      const s = await stat(this.path(hex));
      return { size: s.size, mtime: s.mtime };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw error;
    }
  }

  read(hex: string, range?: { start: number; end: number }): Readable {
    return createReadStream(this.path(hex), range ? { start: range.start, end: range.end } : {});
  }

  async put(
    hex: string,
    body: Readable,
    limits: { maxBytes: number; expectedSize?: number | undefined },
    signal?: AbortSignal,
  ): Promise<PutResult> {
    const final = this.path(hex);
    const tmpDir = join(this.root, 'tmp');
    await mkdir(tmpDir, { recursive: true });
    await mkdir(dirname(final), { recursive: true });
    const tmp = join(tmpDir, `${hex}.${randomBytes(6).toString('hex')}`);
    const hash = createHash('sha256');
    let size = 0;
    let exceeded = false;
    const meter = new Transform({
      transform(chunk: Buffer, _enc, done) {
        size += chunk.length;
        // Past the limit: keep reading and discard, so the client gets a clean 413 instead of
        // a reset; only a body far beyond the limit is cut off.
        if (size > limits.maxBytes) {
          exceeded = true;
          return size > limits.maxBytes * 2 + 1024 * 1024 ? done(new LimitExceeded()) : done();
        }
        hash.update(chunk);
        done(null, chunk);
      },
    });
    try {
      await pipeline(body, meter, createWriteStream(tmp, { mode: 0o644 }), signal ? { signal } : {});
    } catch (error) {
      await rm(tmp, { force: true });
      if (error instanceof LimitExceeded) return { ok: false, reason: 'too-large', limit: limits.maxBytes };
      throw error;
    }
    if (exceeded) {
      await rm(tmp, { force: true });
      return { ok: false, reason: 'too-large', limit: limits.maxBytes };
    }
    try {
      const actual = hash.digest('hex');
      if (actual !== hex) return { ok: false, reason: 'digest-mismatch', actual: `sha256:${actual}` };
      if (limits.expectedSize !== undefined && limits.expectedSize !== size)
        return { ok: false, reason: 'size-mismatch', expected: limits.expectedSize, actual: size };
      const existed = (await this.stat(hex)) !== null;
      const fh = await open(tmp, 'r');
      try {
        await fh.sync();
      } finally {
        await fh.close();
      }
      // Same content under the same name: replacing an existing object is harmless.
      await rename(tmp, final);
      const dir = await open(dirname(final), 'r');
      try {
        await dir.sync();
      } finally {
        await dir.close();
      }
      return { ok: true, size, created: !existed };
    } finally {
      await rm(tmp, { force: true });
    }
  }
}

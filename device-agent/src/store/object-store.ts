import { parseDigest, type Digest } from '@fleet/protocol';
import { createHash, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import * as fs from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { errnoCode, fsyncDir } from './durable.js';
import { StoreError } from './errors.js';
import { ObjectPins, type Pin } from './pins.js';

export interface StoredObject {
  digest: Digest;
  size: number;
}

export interface PutOptions {
  /** Expected size in bytes: more or fewer bytes fail the put. */
  size?: number;
  signal?: AbortSignal;
}

const HEX = /^[0-9a-f]{64}$/;

/**
 * Content-addressed objects under `<root>/objects/sha256/<hex>`. An object appears there only
 * complete and verified: bytes go to `<root>/objects/tmp/` (same filesystem, so the final
 * rename is atomic), are fsynced, hashed, renamed, and the directory is fsynced. A crash
 * leaves at most a temp file, removed by {@link init}; a wrong digest leaves nothing.
 */
export class ObjectStore {
  readonly objectsDir: string;
  readonly tmpDir: string;
  /** Objects GC keeps although no revision references them yet (imports); see pins.ts. */
  readonly pins: ObjectPins;
  private gate: Promise<unknown> = Promise.resolve();

  constructor(readonly root: string) {
    this.objectsDir = join(root, 'objects', 'sha256');
    this.tmpDir = join(root, 'objects', 'tmp');
    this.pins = new ObjectPins(root);
  }

  /**
   * Runs `fn` after every earlier exclusive job of this store: GC's list-decide-delete and a
   * pinned import never interleave (GC must not delete an object between its pin and its
   * adoption, nor decide on a pin list read before the pin was written).
   */
  exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.gate.then(fn, fn);
    this.gate = run.catch(() => undefined);
    return run;
  }

  /**
   * adoptFile for an object nothing references yet (`import-image`): pinned first (see
   * pins.ts), so GC keeps it until a kept revision uses it or the pin expires.
   */
  importFile(
    digest: Digest,
    path: string,
    pin: { reason: string; ttlMs?: number },
  ): Promise<{ object: StoredObject; pin: Pin }> {
    return this.exclusive(async () => {
      const p = await this.pins.pin(digest, pin);
      return { object: await this.adoptFile(digest, path), pin: p };
    });
  }

  /** Creates the directories and removes temp files a crash or power cut left behind. */
  async init(): Promise<void> {
    await fs.mkdir(this.objectsDir, { recursive: true });
    await fs.rm(this.tmpDir, { recursive: true, force: true });
    await fs.mkdir(this.tmpDir, { recursive: true });
    await fsyncDir(join(this.root, 'objects'));
  }

  private hex(digest: string): string {
    const r = parseDigest(digest);
    if (!r.ok) throw new StoreError('invalid', `object digest ${JSON.stringify(digest)}: ${r.error.message}`);
    return r.value.slice('sha256:'.length);
  }

  /** Where the object lives (whether or not it is there). */
  pathOf(digest: Digest): string {
    return join(this.objectsDir, this.hex(digest));
  }

  async has(digest: Digest): Promise<boolean> {
    return (await this.stat(digest)) !== null;
  }

  async stat(digest: Digest): Promise<StoredObject | null> {
    try {
      const st = await fs.stat(this.pathOf(digest));
      return { digest, size: st.size };
    } catch (e) {
      if (errnoCode(e) === 'ENOENT') return null;
      throw e;
    }
  }

  /** The path of a present object; throws `not-found` otherwise. */
  async get(digest: Digest): Promise<string> {
    if (!(await this.has(digest))) throw new StoreError('not-found', `object ${digest} is not in the store`);
    return this.pathOf(digest);
  }

  async list(): Promise<Digest[]> {
    const names = await fs.readdir(this.objectsDir).catch((e: unknown) => {
      if (errnoCode(e) === 'ENOENT') return [] as string[];
      throw e;
    });
    return names
      .filter((n) => HEX.test(n))
      .map((n) => `sha256:${n}` as Digest)
      .sort();
  }

  /**
   * Stores the bytes of `source` under `digest`, verifying them. If the object is already
   * present the source is not read (and is destroyed when it is a stream).
   */
  async put(
    digest: Digest,
    source: AsyncIterable<Uint8Array> | Readable,
    opts: PutOptions = {},
  ): Promise<StoredObject> {
    const hex = this.hex(digest);
    const existing = await this.stat(digest);
    if (existing !== null) {
      if (source instanceof Readable) source.destroy();
      return existing;
    }
    await fs.mkdir(this.tmpDir, { recursive: true });
    const tmp = join(this.tmpDir, `${hex}.${randomBytes(6).toString('hex')}`);
    const hash = createHash('sha256');
    let size = 0;
    const fh = await fs.open(tmp, 'wx', 0o444);
    let closed = false;
    try {
      for await (const chunk of source) {
        opts.signal?.throwIfAborted();
        size += chunk.length;
        if (opts.size !== undefined && size > opts.size) {
          throw new StoreError(
            'size-mismatch',
            `object ${digest}: more than the expected ${opts.size} bytes`,
          );
        }
        hash.update(chunk);
        let off = 0;
        while (off < chunk.length) off += (await fh.write(chunk, off)).bytesWritten;
      }
      if (opts.size !== undefined && size !== opts.size) {
        throw new StoreError('size-mismatch', `object ${digest}: got ${size} bytes, expected ${opts.size}`);
      }
      const actual = `sha256:${hash.digest('hex')}`;
      if (actual !== digest)
        throw new StoreError('digest-mismatch', `object ${digest}: content hashes to ${actual}; refused`);
      await fh.sync();
      await fh.close();
      closed = true;
      await fs.rename(tmp, join(this.objectsDir, hex));
      await fsyncDir(this.objectsDir);
      return { digest, size };
    } catch (e) {
      if (!closed) await fh.close().catch(() => undefined);
      await fs.rm(tmp, { force: true });
      if (source instanceof Readable) source.destroy();
      if (e instanceof StoreError) throw e;
      if (errnoCode(e) === 'ENOSPC' || errnoCode(e) === 'EDQUOT') {
        throw new StoreError(
          'no-space',
          `no space left on the device while writing object ${digest} (${size} bytes written, discarded)`,
          { cause: e },
        );
      }
      throw new StoreError('io', `writing object ${digest} failed: ${(e as Error).message}`, { cause: e });
    }
  }

  /** Copies a file in (verified like any put). */
  async putFile(digest: Digest, path: string, opts: PutOptions = {}): Promise<StoredObject> {
    return this.put(digest, createReadStream(path, { highWaterMark: 1 << 20 }), opts);
  }

  /**
   * Takes over a file already written on this filesystem (the converter's squashfs) without
   * copying it: hashes it, fsyncs it, hard-links it into place, then removes the source. The
   * link (not a rename) means a digest mismatch or crash never loses the caller's file until
   * the object is durably in place. Falls back to a verified copy across filesystems.
   */
  async adoptFile(digest: Digest, path: string): Promise<StoredObject> {
    const hex = this.hex(digest);
    const existing = await this.stat(digest);
    if (existing !== null) {
      await fs.rm(path, { force: true });
      return existing;
    }
    const hash = createHash('sha256');
    let size = 0;
    for await (const chunk of createReadStream(path, { highWaterMark: 1 << 20 }) as AsyncIterable<Buffer>) {
      hash.update(chunk);
      size += chunk.length;
    }
    const actual = `sha256:${hash.digest('hex')}`;
    if (actual !== digest)
      throw new StoreError('digest-mismatch', `object ${digest}: file ${path} hashes to ${actual}; refused`);
    const fh = await fs.open(path, 'r');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
    try {
      await fs.link(path, join(this.objectsDir, hex));
    } catch (e) {
      if (errnoCode(e) === 'EEXIST') {
        await fs.rm(path, { force: true });
        return { digest, size };
      }
      if (errnoCode(e) !== 'EXDEV')
        throw new StoreError('io', `adopting ${path} as object ${digest} failed: ${(e as Error).message}`, {
          cause: e,
        });
      const stored = await this.putFile(digest, path, { size });
      await fs.rm(path, { force: true });
      return stored;
    }
    await fs.chmod(join(this.objectsDir, hex), 0o444);
    await fsyncDir(this.objectsDir);
    await fs.rm(path, { force: true });
    return { digest, size };
  }

  /** Re-hashes a stored object (after an unclean shutdown, or before trusting an old one). */
  async verify(digest: Digest): Promise<boolean> {
    const hash = createHash('sha256');
    for await (const chunk of createReadStream(await this.get(digest)) as AsyncIterable<Buffer>)
      hash.update(chunk);
    return `sha256:${hash.digest('hex')}` === digest;
  }

  async delete(digest: Digest): Promise<boolean> {
    try {
      await fs.unlink(this.pathOf(digest));
    } catch (e) {
      if (errnoCode(e) === 'ENOENT') return false;
      throw e;
    }
    await fsyncDir(this.objectsDir);
    return true;
  }
}

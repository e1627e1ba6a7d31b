import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, open, stat, statfs, truncate, unlink } from 'node:fs/promises';
import type { IncomingMessage } from 'node:http';
import { join } from 'node:path';
import { digestHex, objectUrl, type Digest, type ObjectRef, type ReasonCode } from '@fleet/protocol';
import { Backoff, isAbortError, sleep, type BackoffOptions } from './backoff.js';
import { httpOpen } from './http-client.js';
import type { LinkLogger } from './logger.js';

/** Why a download failed, as a protocol reason code the update machine can report as is. */
export class DownloadError extends Error {
  override readonly name = 'DownloadError';
  constructor(
    readonly reason: Extract<
      ReasonCode,
      'insufficient-space' | 'download-failed' | 'digest-mismatch' | 'object-missing' | 'cancelled'
    >,
    message: string,
    readonly digest?: Digest,
  ) {
    super(message);
  }
}

/** One attempt failed in a way a retry may fix (network, 5xx, a short or mangled response). */
class TransientError extends Error {
  constructor(
    message: string,
    /** Bytes this attempt added to the partial file; an attempt that made progress resets the retry budget. */
    readonly progressed = false,
  ) {
    super(message);
  }
}

export interface DownloadProgress {
  bytesDone: number;
  bytesTotal: number;
  objectsDone: number;
  objectsTotal: number;
}

export interface ObjectDownloaderOptions {
  /** Where `<hex>.partial` files grow; on the object store's filesystem so commit can rename. */
  dir: string;
  /** Whether the object store already holds a digest. */
  has(digest: Digest): Promise<boolean>;
  /** Hands a fully verified file to the object store, which takes ownership of the path. */
  commit(digest: Digest, path: string): Promise<void>;
  /** Device credentials: the hub's object endpoint wants HTTP Basic. */
  auth?: { username: string; password: string };
  /** Pinned CA for https object URLs. */
  ca?: string | Buffer;
  concurrency?: number;
  /** Kept free beyond the objects themselves (logs, journal, volumes keep working). */
  reserveBytes?: number;
  /** Attempts per object without progress before giving up. */
  maxAttempts?: number;
  /** Times a complete object whose sha256 is wrong is fetched again from zero. */
  maxCorruptRefetches?: number;
  backoff?: BackoffOptions;
  idleTimeoutMs?: number;
  /**
   * Received bytes gathered per write (default 1 MiB). Awaiting one write per ~63 KiB socket
   * chunk made downloads 1.8x slower in the aarch64 qemu guest (docs/images.md).
   */
  writeBytes?: number;
  /**
   * Bytes written between fdatasyncs of a partial file (default 8 MiB). Without them a power
   * cut left the partial file mostly empty (guest writeback delay) and the resume restarted
   * near 0 %; with them a cut loses at most this much plus the last write. 8 MiB is ~4-5 % of
   * a 146-212 MiB system image, and costs one flush per 8 writes, not one per write.
   */
  syncBytes?: number;
  /** Bytes free to the agent on the filesystem of a path (statfs bavail by default). */
  freeBytes?: (path: string) => Promise<number>;
  logger: LinkLogger;
  random?: () => number;
}

export interface DownloadOutcome {
  /** Objects downloaded, verified and committed by this call. */
  fetched: Digest[];
  /** Objects the store already had. */
  present: Digest[];
  /** Bytes received over the network by this call. */
  bytesReceived: number;
}

const DEFAULT_RESERVE = 32 * 1024 * 1024;
const DEFAULT_WRITE_BYTES = 1024 * 1024;
const DEFAULT_SYNC_BYTES = 8 * 1024 * 1024;

/**
 * Downloads a revision's objects: only those the store lacks, resumable (`Range`), several at
 * once, each sha256-verified while it streams and handed to the store only when it matches.
 */
export class ObjectDownloader {
  private readonly writeBytes: number;
  private readonly syncBytes: number;

  constructor(private readonly opts: ObjectDownloaderOptions) {
    this.writeBytes = opts.writeBytes ?? DEFAULT_WRITE_BYTES;
    this.syncBytes = opts.syncBytes ?? DEFAULT_SYNC_BYTES;
    for (const [name, v] of [
      ['writeBytes', this.writeBytes],
      ['syncBytes', this.syncBytes],
    ] as const) {
      if (!Number.isSafeInteger(v) || v <= 0)
        throw new RangeError(`ObjectDownloader: ${name} must be a positive integer, got ${String(v)}`);
    }
  }

  async download(
    objects: readonly ObjectRef[],
    objectBaseUrl: string,
    { signal, onProgress }: { signal?: AbortSignal; onProgress?: (p: DownloadProgress) => void } = {},
  ): Promise<DownloadOutcome> {
    const { dir, logger } = this.opts;
    const unique = new Map<Digest, ObjectRef>();
    for (const o of objects) {
      const prev = unique.get(o.digest);
      if (prev && prev.size !== o.size) {
        throw new DownloadError(
          'download-failed',
          `${o.digest} is listed with two sizes (${prev.size} and ${o.size})`,
          o.digest,
        );
      }
      unique.set(o.digest, o);
    }
    const missing: ObjectRef[] = [];
    const present: Digest[] = [];
    for (const o of unique.values()) {
      if (await this.opts.has(o.digest)) present.push(o.digest);
      else missing.push(o);
    }
    const outcome: DownloadOutcome = { fetched: [], present, bytesReceived: 0 };
    if (missing.length === 0) return outcome;

    await mkdir(dir, { recursive: true });
    await this.checkSpace(missing);

    const done = new Map<Digest, number>();
    const total = missing.reduce((s, o) => s + o.size, 0);
    let objectsDone = 0;
    let lastEmit = 0;
    const emit = (force: boolean) => {
      if (!onProgress) return;
      const now = Date.now();
      if (!force && now - lastEmit < 200) return;
      lastEmit = now;
      let bytesDone = 0;
      for (const v of done.values()) bytesDone += v;
      onProgress({ bytesDone, bytesTotal: total, objectsDone, objectsTotal: missing.length });
    };
    const progress = {
      set: (d: Digest, n: number) => (done.set(d, n), emit(false)),
      received: (n: number) => (outcome.bytesReceived += n),
    };

    // The first failure stops the other workers: the update fails as a whole anyway.
    const stopAll = new AbortController();
    const inner = signal ? AbortSignal.any([signal, stopAll.signal]) : stopAll.signal;
    const todo = [...missing];
    let failure: unknown = null;
    const worker = async () => {
      for (let o = todo.shift(); o && !inner.aborted; o = todo.shift()) {
        try {
          await this.fetchObject(o, objectBaseUrl, inner, progress);
          outcome.fetched.push(o.digest);
          objectsDone++;
          emit(true);
        } catch (e) {
          if (failure === null) failure = e;
          stopAll.abort(e);
          return;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.opts.concurrency ?? 3, missing.length) }, worker));
    if (signal?.aborted) {
      throw new DownloadError(
        'cancelled',
        `download cancelled: ${signal.reason instanceof Error ? signal.reason.message : String(signal.reason ?? 'aborted')}`,
      );
    }
    if (failure !== null) {
      if (failure instanceof DownloadError && failure.reason === 'insufficient-space') {
        // A full data partition endangers the running apps: give the space back rather than
        // keep partial files for a resume.
        for (const o of missing)
          if (!outcome.fetched.includes(o.digest)) await unlink(this.partialPath(o.digest)).catch(() => {});
      }
      logger.error(`download failed: ${(failure as Error).message}`);
      throw failure;
    }
    return outcome;
  }

  partialPath(digest: Digest): string {
    return join(this.opts.dir, `${digestHex(digest)}.partial`);
  }

  /** All missing bytes plus the reserve must fit, before a single byte is fetched. */
  private async checkSpace(missing: readonly ObjectRef[]): Promise<void> {
    const { dir } = this.opts;
    let objectBytes = 0;
    let partialBytes = 0;
    for (const o of missing) {
      objectBytes += o.size;
      partialBytes += Math.min(o.size, await fileSize(this.partialPath(o.digest)));
    }
    const reserve = this.opts.reserveBytes ?? DEFAULT_RESERVE;
    const needed = objectBytes - partialBytes + reserve;
    const free = await (this.opts.freeBytes ?? defaultFreeBytes)(dir);
    if (needed > free) {
      throw new DownloadError(
        'insufficient-space',
        `not enough space in ${dir}: need ${needed} bytes (${missing.length} objects of ${objectBytes} bytes` +
          `${partialBytes > 0 ? `, ${partialBytes} already downloaded` : ''}, plus a reserve of ${reserve}) but only ${free} bytes are free`,
      );
    }
  }

  private async fetchObject(
    ref: ObjectRef,
    baseUrl: string,
    signal: AbortSignal,
    progress: { set(d: Digest, n: number): void; received(n: number): void },
  ): Promise<void> {
    const { logger } = this.opts;
    const backoff = new Backoff({
      ...(this.opts.backoff ?? { initialMs: 1_000, maxMs: 60_000 }),
      ...(this.opts.random ? { random: this.opts.random } : {}),
    });
    const maxAttempts = this.opts.maxAttempts ?? 5;
    const maxCorrupt = this.opts.maxCorruptRefetches ?? 2;
    const path = this.partialPath(ref.digest);
    let attempts = 0;
    let corrupt = 0;
    for (;;) {
      signal.throwIfAborted();
      let hex: string;
      try {
        hex = await this.fetchOnce(ref, baseUrl, path, signal, progress);
      } catch (e) {
        if (signal.aborted) throw isAbortError(e) ? e : signal.reason;
        if (!(e instanceof TransientError)) throw e;
        attempts = e.progressed ? 1 : attempts + 1;
        if (e.progressed) backoff.reset();
        if (attempts >= maxAttempts) {
          throw new DownloadError(
            'download-failed',
            `${ref.digest}: ${e.message} (gave up after ${attempts} attempts without progress)`,
            ref.digest,
          );
        }
        const delay = backoff.next();
        logger.warn(`download of ${ref.digest} failed: ${e.message}; retrying in ${delay} ms`);
        await sleep(delay, signal);
        continue;
      }
      if (hex === digestHex(ref.digest)) {
        try {
          await this.opts.commit(ref.digest, path);
        } catch (e) {
          throw new DownloadError(
            'download-failed',
            `${ref.digest}: the object store refused it: ${(e as Error).message}`,
            ref.digest,
          );
        }
        return;
      }
      // Complete but wrong: the bytes are worthless (resuming would keep the bad part).
      corrupt++;
      await unlink(path).catch(() => {});
      progress.set(ref.digest, 0);
      if (corrupt > maxCorrupt) {
        throw new DownloadError(
          'digest-mismatch',
          `${ref.digest}: downloaded ${corrupt} times and the content hashed to sha256:${hex} each time it was wrong; giving up`,
          ref.digest,
        );
      }
      logger.warn(
        `${ref.digest} arrived corrupt (hashed to sha256:${hex}); fetching it again (${corrupt}/${maxCorrupt})`,
      );
    }
  }

  /**
   * One HTTP exchange. Leaves `path` holding a prefix of the object that matches what the
   * server sent, and returns the sha256 of the whole file once it has `size` bytes.
   */
  private async fetchOnce(
    ref: ObjectRef,
    baseUrl: string,
    path: string,
    signal: AbortSignal,
    progress: { set(d: Digest, n: number): void; received(n: number): void },
  ): Promise<string> {
    let have = await fileSize(path);
    if (have > ref.size) {
      await truncate(path, 0);
      have = 0;
    }
    // Resuming: the bytes already on disk are hashed again, so the final digest covers the
    // file as it is, not as we believe we wrote it.
    let hash = await hashPrefix(path, have);
    progress.set(ref.digest, have);
    if (have === ref.size) return hash.digest('hex');

    const url = objectUrl(baseUrl, ref.digest);
    let res: IncomingMessage;
    try {
      res = await httpOpen(url, {
        headers: have > 0 ? { range: `bytes=${have}-` } : {},
        ...(this.opts.auth ? { basicAuth: this.opts.auth } : {}),
        ...(this.opts.ca !== undefined ? { ca: this.opts.ca } : {}),
        signal,
        idleTimeoutMs: this.opts.idleTimeoutMs ?? 60_000,
      });
    } catch (e) {
      if (signal.aborted) throw e;
      throw new TransientError((e as Error).message);
    }
    const status = res.statusCode ?? 0;
    if (status === 404) {
      res.resume();
      throw new DownloadError(
        'object-missing',
        `${ref.digest}: the server has no such object (404 at ${url})`,
        ref.digest,
      );
    }
    if (status === 401 || status === 403) {
      res.resume();
      throw new DownloadError(
        'download-failed',
        `${ref.digest}: the server refused our credentials (${status})`,
        ref.digest,
      );
    }
    if (status === 416) {
      // Our prefix does not fit the server's object: start over.
      res.resume();
      await truncate(path, 0);
      throw new TransientError(`server refused the range bytes=${have}- (416); restarting from zero`);
    }
    let start: number;
    if (status === 200) {
      if (have > 0)
        this.opts.logger.info(
          `server ignored the Range request for ${ref.digest}; downloading it from the start`,
        );
      start = 0;
    } else if (status === 206 && have > 0) {
      const cr = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(String(res.headers['content-range'] ?? ''));
      const ok =
        cr &&
        Number(cr[1]) === have &&
        Number(cr[2]) === ref.size - 1 &&
        (cr[3] === '*' || Number(cr[3]) === ref.size);
      if (!ok) {
        res.destroy();
        await truncate(path, 0);
        throw new TransientError(
          `server answered bytes=${have}- with Content-Range "${res.headers['content-range'] ?? ''}"; restarting from zero`,
        );
      }
      start = have;
    } else {
      res.resume();
      const msg = `${ref.digest}: server answered ${status} ${res.statusMessage ?? ''}`.trim();
      if (status >= 500 || status === 206 || status === 408 || status === 429) throw new TransientError(msg);
      throw new DownloadError('download-failed', msg, ref.digest);
    }
    const expected = ref.size - start;
    const announced = res.headers['content-length'];
    if (announced !== undefined && Number(announced) !== expected) {
      res.destroy();
      throw new TransientError(
        `server announced Content-Length ${announced} for ${ref.digest} but ${expected} bytes are due (object size ${ref.size}, from byte ${start})`,
      );
    }
    if (start === 0) hash = createHash('sha256');

    const fh = await open(path, start === 0 ? 'w' : 'r+', 0o600);
    let written = 0; // bytes received from this response (hashed, counted as progress)
    let flushed = 0; // of them, bytes written to the file
    let synced = 0; // of them, bytes known durable (fdatasync)
    let pending: Buffer[] = [];
    let pendingBytes = 0;
    // Correctness does not depend on what is durable: a resume re-hashes the file as it is on
    // disk and the digest is checked at the end. The periodic sync only makes a resume after a
    // power cut keep most of what was downloaded.
    const flush = async () => {
      if (pendingBytes === 0) return;
      const buf = pending.length === 1 ? pending[0]! : Buffer.concat(pending, pendingBytes);
      pending = [];
      pendingBytes = 0;
      let off = 0;
      while (off < buf.length) {
        const { bytesWritten } = await fh.write(buf, off, buf.length - off, start + flushed + off);
        off += bytesWritten;
      }
      flushed += buf.length;
      if (flushed - synced >= this.syncBytes) {
        await fh.datasync();
        synced = flushed;
      }
    };
    const isEnospc = (e: unknown) => (e as NodeJS.ErrnoException | null)?.code === 'ENOSPC';
    try {
      for await (const chunk of res as AsyncIterable<Buffer>) {
        if (written + chunk.length > expected) {
          res.destroy();
          pending = [];
          pendingBytes = 0;
          await fh.truncate(start);
          throw new TransientError(
            `server sent more than the ${expected} bytes of ${ref.digest} it owed (size ${ref.size}); discarding this response`,
          );
        }
        pending.push(chunk);
        pendingBytes += chunk.length;
        hash.update(chunk);
        written += chunk.length;
        progress.received(chunk.length);
        progress.set(ref.digest, start + written);
        if (pendingBytes >= this.writeBytes) await flush();
      }
      await flush();
      await fh.datasync();
    } catch (e) {
      let err = e;
      if (!(e instanceof TransientError) && !isEnospc(e)) {
        // A cut connection or an abort: the bytes that arrived are kept for the resume.
        await flush().catch((f: unknown) => {
          if (isEnospc(f)) err = f;
        });
      }
      if (isEnospc(err)) {
        throw new DownloadError(
          'insufficient-space',
          `disk full while writing ${path} (${start + flushed} of ${ref.size} bytes): ${(err as Error).message}`,
          ref.digest,
        );
      }
      if (err instanceof TransientError || err instanceof DownloadError || signal.aborted) throw err;
      throw new TransientError(
        `connection lost after ${written} of ${expected} bytes of ${ref.digest}: ${(err as Error).message}`,
        written > 0,
      );
    } finally {
      await fh.close();
    }
    if (written < expected) {
      throw new TransientError(
        `response ended after ${written} of ${expected} bytes of ${ref.digest}`,
        written > 0,
      );
    }
    return hash.digest('hex');
  }
}

async function fileSize(path: string): Promise<number> {
  try {
    return (await stat(path)).size;
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return 0;
    throw e;
  }
}

async function hashPrefix(path: string, bytes: number): Promise<Hash> {
  const hash = createHash('sha256');
  if (bytes === 0) return hash;
  for await (const chunk of createReadStream(path, { start: 0, end: bytes - 1 }))
    hash.update(chunk as Buffer);
  return hash;
}

async function defaultFreeBytes(path: string): Promise<number> {
  const s = await statfs(path);
  return s.bavail * s.bsize;
}

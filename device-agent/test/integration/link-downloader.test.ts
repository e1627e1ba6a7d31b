import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readdir, readFile, rename, rm, statfs, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { digestHex, type Digest, type ObjectRef } from '@fleet/protocol';
import {
  DownloadError,
  ObjectDownloader,
  type DownloadProgress,
  type ObjectDownloaderOptions,
} from '../../src/link/downloader.js';
import { recordingLogger } from './helpers/link-fixtures.js';

const AUTH = { username: 'dev-1', password: 'pw-1' };

function anObject(size: number): { ref: ObjectRef; data: Buffer } {
  const data = randomBytes(size);
  return { ref: { digest: `sha256:${createHash('sha256').update(data).digest('hex')}`, size }, data };
}

type Behaviour = (req: IncomingMessage, res: ServerResponse, data: Buffer, n: number) => boolean | void;

/** A real HTTP object server with Range support; `behave` can take over a request to misbehave. */
class ObjectServer {
  readonly objects = new Map<string, Buffer>();
  readonly requests: { hex: string; range?: string; auth?: string }[] = [];
  behave: Behaviour | null = null;
  active = 0;
  maxActive = 0;
  private server!: Server;

  async listen(): Promise<string> {
    this.server = createServer((req, res) => this.handle(req, res));
    await new Promise<void>((r) => this.server.listen(0, '127.0.0.1', r));
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/api/v1/objects`;
  }

  close(): void {
    this.server.closeAllConnections();
    this.server.close();
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    const m = /\/api\/v1\/objects\/sha256\/([0-9a-f]{64})$/.exec(req.url ?? '');
    const hex = m?.[1] ?? '';
    this.requests.push({
      hex,
      ...(req.headers.range ? { range: req.headers.range } : {}),
      ...(req.headers.authorization ? { auth: req.headers.authorization } : {}),
    });
    const n = this.requests.filter((r) => r.hex === hex).length;
    this.active++;
    this.maxActive = Math.max(this.maxActive, this.active);
    res.on('close', () => this.active--);
    if (
      req.headers.authorization !==
      `Basic ${Buffer.from(`${AUTH.username}:${AUTH.password}`).toString('base64')}`
    ) {
      res.writeHead(401).end();
      return;
    }
    const data = this.objects.get(hex);
    if (!data) {
      res.writeHead(404).end();
      return;
    }
    if (this.behave?.(req, res, data, n)) return;
    serveRange(req, res, data);
  }
}

function serveRange(req: IncomingMessage, res: ServerResponse, data: Buffer): void {
  const r = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
  if (r) {
    const start = Number(r[1]);
    if (start >= data.length) {
      res.writeHead(416, { 'content-range': `bytes */${data.length}` }).end();
      return;
    }
    res.writeHead(206, {
      'content-length': data.length - start,
      'content-range': `bytes ${start}-${data.length - 1}/${data.length}`,
    });
    res.end(data.subarray(start));
    return;
  }
  res.writeHead(200, { 'content-length': data.length });
  res.end(data);
}

let server: ObjectServer;
let baseUrl: string;
let work: string;
let store: string;
let committed: Digest[];

beforeEach(async () => {
  server = new ObjectServer();
  baseUrl = await server.listen();
  work = await mkdtemp(join(tmpdir(), 'link-dl-'));
  store = join(work, 'objects');
  await mkdir(store);
  committed = [];
});
afterEach(async () => {
  server.close();
  await rm(work, { recursive: true, force: true });
});

function downloader(over: Partial<ObjectDownloaderOptions> = {}) {
  const logger = recordingLogger();
  const dl = new ObjectDownloader({
    dir: join(work, 'partial'),
    has: async (d) => (await readdir(store)).includes(digestHex(d)),
    // What the object store's putFile does with a verified file on the same filesystem.
    commit: async (d, path) => {
      await rename(path, join(store, digestHex(d)));
      committed.push(d);
    },
    auth: AUTH,
    concurrency: 2,
    reserveBytes: 0,
    backoff: { initialMs: 5, maxMs: 20 },
    logger,
    ...over,
  });
  return { dl, logger };
}

function serve(...objs: { ref: ObjectRef; data: Buffer }[]): void {
  for (const o of objs) server.objects.set(digestHex(o.ref.digest), o.data);
}

async function storedEquals(o: { ref: ObjectRef; data: Buffer }): Promise<boolean> {
  return (await readFile(join(store, digestHex(o.ref.digest)))).equals(o.data);
}

async function failure(p: Promise<unknown>): Promise<DownloadError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(DownloadError);
    return e as DownloadError;
  }
  throw new Error('expected the download to fail');
}

describe('object downloader against a real HTTP server', () => {
  it('fetches only missing objects, a bounded number at once, verified, with Basic auth and progress', async () => {
    const objs = Array.from({ length: 5 }, (_, i) => anObject(200_000 + i * 1000));
    const already = anObject(1000);
    serve(...objs, already);
    await writeFile(join(store, digestHex(already.ref.digest)), already.data);
    const seen: DownloadProgress[] = [];
    const { dl } = downloader();
    const out = await dl.download([...objs.map((o) => o.ref), already.ref, objs[0]!.ref], baseUrl, {
      onProgress: (p) => seen.push(p),
    });

    expect(out.present).toEqual([already.ref.digest]);
    expect(new Set(out.fetched)).toEqual(new Set(objs.map((o) => o.ref.digest)));
    for (const o of objs) expect(await storedEquals(o)).toBe(true);
    expect(server.requests.some((r) => r.hex === digestHex(already.ref.digest))).toBe(false);
    expect(server.maxActive).toBeLessThanOrEqual(2);
    const total = objs.reduce((s, o) => s + o.ref.size, 0);
    expect(seen.at(-1)).toEqual({ bytesDone: total, bytesTotal: total, objectsDone: 5, objectsTotal: 5 });
    expect(seen.every((p, i) => i === 0 || p.bytesDone >= seen[i - 1]!.bytesDone)).toBe(true);
    expect(await readdir(join(work, 'partial'))).toEqual([]);
  });

  it('resumes a cut download with Range and finishes with the right content', async () => {
    const o = anObject(600_000);
    serve(o);
    server.behave = (_req, res, data, n) => {
      if (n !== 1) return false;
      // Announce everything, send 40 %, then the connection dies.
      res.writeHead(200, { 'content-length': data.length });
      res.write(data.subarray(0, 240_000), () => setTimeout(() => res.destroy(), 20));
      return true;
    };
    const { dl } = downloader();
    await dl.download([o.ref], baseUrl);
    expect(await storedEquals(o)).toBe(true);
    const reqs = server.requests.map((r) => r.range ?? 'none');
    expect(reqs[0]).toBe('none');
    expect(reqs[1]).toMatch(/^bytes=\d+-$/);
    expect(Number(/\d+/.exec(reqs[1]!)![0])).toBeGreaterThan(0);
  });

  it('gathers small socket chunks into larger writes without changing a byte', async () => {
    // Odd sizes so that neither the socket chunks nor the object line up with the write or
    // sync sizes; the tiny sizes make the second run write and fdatasync many times.
    const objs = [anObject(3 * 1024 * 1024 + 12_345), anObject(1), anObject(250_001)];
    serve(...objs);
    server.behave = (_req, res, data) => {
      res.writeHead(200, { 'content-length': data.length });
      for (let off = 0; off < data.length; off += 7777) res.write(data.subarray(off, off + 7777));
      res.end();
      return true;
    };
    await downloader().dl.download([objs[0]!.ref, objs[1]!.ref], baseUrl);
    await downloader({ writeBytes: 10_000, syncBytes: 25_000 }).dl.download([objs[2]!.ref], baseUrl);
    for (const o of objs) expect(await storedEquals(o)).toBe(true);
    expect(await readdir(join(work, 'partial'))).toEqual([]);
  });

  it('keeps the bytes that arrived but were not yet written when the connection is cut', async () => {
    const o = anObject(3 * 1024 * 1024);
    serve(o);
    const sent = 1024 * 1024 + 512 * 1024;
    server.behave = (_req, res, data, n) => {
      if (n !== 1) return false;
      res.writeHead(200, { 'content-length': data.length });
      res.write(data.subarray(0, sent), () => setTimeout(() => res.destroy(), 20));
      return true;
    };
    await downloader({ writeBytes: 1024 * 1024 }).dl.download([o.ref], baseUrl);
    expect(await storedEquals(o)).toBe(true);
    const resumedAt = Number(/^bytes=(\d+)-$/.exec(server.requests[1]?.range ?? '')?.[1]);
    // One gathered write holds ~1 MiB (plus at most one socket chunk): resuming beyond 1.25 MiB
    // means the half-full buffer went to the file before the retry.
    expect(resumedAt).toBeGreaterThan(1024 * 1024 + 256 * 1024);
    expect(resumedAt).toBeLessThanOrEqual(sent);
  });

  it('refuses a write or sync size that is not a positive integer, naming it', () => {
    expect(() => downloader({ writeBytes: 0 })).toThrow(/writeBytes must be a positive integer, got 0/);
    expect(() => downloader({ syncBytes: 1.5 })).toThrow(/syncBytes must be a positive integer, got 1.5/);
    expect(() => downloader({ syncBytes: Number.NaN })).toThrow(/syncBytes .* got NaN/);
  });

  it('re-hashes a partial file left by an earlier run, and starts over when that prefix is bad', async () => {
    const o = anObject(300_000);
    serve(o);
    const { dl } = downloader();
    await mkdir(join(work, 'partial'), { recursive: true });
    const partial = dl.partialPath(o.ref.digest);
    await writeFile(partial, o.data.subarray(0, 100_000));
    await dl.download([o.ref], baseUrl);
    expect(await storedEquals(o)).toBe(true);
    expect(server.requests.map((r) => r.range)).toEqual(['bytes=100000-']);

    // Now a prefix damaged on disk: the resumed file hashes wrong, is dropped, and fetched whole.
    const p = anObject(300_000);
    serve(p);
    const bad = Buffer.from(p.data.subarray(0, 100_000));
    bad[500] = bad[500]! ^ 0xff;
    await writeFile(dl.partialPath(p.ref.digest), bad);
    server.requests.length = 0;
    await dl.download([p.ref], baseUrl);
    expect(await storedEquals(p)).toBe(true);
    expect(server.requests.map((r) => r.range ?? 'none')).toEqual(['bytes=100000-', 'none']);
  });

  it('restarts from zero when the server ignores Range or answers another range', async () => {
    const o = anObject(200_000);
    const q = anObject(200_000);
    serve(o, q);
    const { dl, logger } = downloader();
    await mkdir(join(work, 'partial'), { recursive: true });
    await writeFile(dl.partialPath(o.ref.digest), o.data.subarray(0, 50_000));
    await writeFile(dl.partialPath(q.ref.digest), q.data.subarray(0, 50_000));
    server.behave = (req, res, data) => {
      const hex = /([0-9a-f]{64})$/.exec(req.url ?? '')![1];
      if (hex === digestHex(o.ref.digest)) {
        res.writeHead(200, { 'content-length': data.length }).end(data); // Range ignored
        return true;
      }
      if (req.headers.range) {
        res
          .writeHead(206, {
            'content-length': data.length - 10,
            'content-range': `bytes 10-${data.length - 1}/${data.length}`,
          })
          .end(data.subarray(10));
        return true;
      }
      return false;
    };
    await dl.download([o.ref, q.ref], baseUrl);
    expect(await storedEquals(o)).toBe(true);
    expect(await storedEquals(q)).toBe(true);
    expect(logger.lines.some((l) => /ignored the Range request/.test(l.message))).toBe(true);
    expect(logger.lines.some((l) => /Content-Range "bytes 10-/.test(l.message))).toBe(true);
  });

  it('detects a server that lies about Content-Length and commits nothing', async () => {
    const o = anObject(100_000);
    serve(o);
    server.behave = (_req, res, data) => {
      res.writeHead(200, { 'content-length': data.length + 4096 });
      res.end(Buffer.concat([data, Buffer.alloc(4096)]));
      return true;
    };
    const { dl } = downloader({ maxAttempts: 3 });
    const e = await failure(dl.download([o.ref], baseUrl));
    expect(e.reason).toBe('download-failed');
    expect(e.message).toMatch(/announced Content-Length 104096 .* but 100000 bytes are due/);
    expect(e.message).toMatch(/after 3 attempts/);
    expect(committed).toEqual([]);
    expect(server.requests).toHaveLength(3);
  });

  it('detects a corrupt object, fetches it again, and gives up (bounded) when it stays corrupt', async () => {
    const o = anObject(150_000);
    serve(o);
    const corrupt = (data: Buffer) => {
      const c = Buffer.from(data);
      c[c.length >> 1] = c[c.length >> 1]! ^ 0x01;
      return c;
    };
    server.behave = (_req, res, data, n) => {
      if (n > 1) return false;
      res.writeHead(200, { 'content-length': data.length }).end(corrupt(data));
      return true;
    };
    const { dl, logger } = downloader();
    await dl.download([o.ref], baseUrl);
    expect(await storedEquals(o)).toBe(true);
    expect(server.requests).toHaveLength(2);
    expect(logger.lines.some((l) => /arrived corrupt/.test(l.message))).toBe(true);

    const p = anObject(150_000);
    serve(p);
    server.requests.length = 0;
    server.behave = (_req, res, data) => (
      res.writeHead(200, { 'content-length': data.length }).end(corrupt(data)),
      true
    );
    const e = await failure(downloader({ maxCorruptRefetches: 2 }).dl.download([p.ref], baseUrl));
    expect(e.reason).toBe('digest-mismatch');
    expect(e.digest).toBe(p.ref.digest);
    expect(server.requests).toHaveLength(3);
    expect(committed).toEqual([o.ref.digest]);
    expect(await readdir(join(work, 'partial'))).toEqual([]);
  });

  it('reports a missing object and refused credentials with their own reasons', async () => {
    const o = anObject(1000);
    const e404 = await failure(downloader().dl.download([o.ref], baseUrl));
    expect(e404.reason).toBe('object-missing');
    serve(o);
    const e401 = await failure(
      downloader({ auth: { username: 'dev-1', password: 'wrong' } }).dl.download([o.ref], baseUrl),
    );
    expect(e401.reason).toBe('download-failed');
    expect(e401.message).toMatch(/refused our credentials \(401\)/);
  });

  it('stops a slow download when aborted, commits nothing and keeps the partial file for a resume', async () => {
    const o = anObject(1_000_000);
    serve(o);
    server.behave = (_req, res, data) => {
      res.writeHead(200, { 'content-length': data.length });
      let off = 0;
      const t = setInterval(() => {
        if (res.destroyed || off >= data.length) return clearInterval(t);
        res.write(data.subarray(off, off + 4096));
        off += 4096;
      }, 20);
      res.on('close', () => clearInterval(t));
      return true;
    };
    const ac = new AbortController();
    const { dl } = downloader();
    const run = dl.download([o.ref], baseUrl, {
      signal: ac.signal,
      onProgress: (p) => {
        if (p.bytesDone >= 16_384) ac.abort(new Error('operator cancelled the update'));
      },
    });
    const e = await failure(run);
    expect(e.reason).toBe('cancelled');
    expect(e.message).toMatch(/operator cancelled the update/);
    expect(committed).toEqual([]);
    expect(await readdir(join(work, 'partial'))).toEqual([`${digestHex(o.ref.digest)}.partial`]);
  });
});

describe('object downloader on a small tmpfs (2 MiB)', () => {
  let mnt: string;
  beforeAll(async () => {
    mnt = await mkdtemp(join(tmpdir(), 'link-dl-tmpfs-'));
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=2m', 'tmpfs', mnt]);
  });
  afterAll(async () => {
    execFileSync('umount', [mnt]);
    await rm(mnt, { recursive: true, force: true });
  });
  afterEach(async () => {
    for (const f of await readdir(mnt)) await rm(join(mnt, f), { recursive: true, force: true });
  });

  it('refuses before fetching anything when the objects and the reserve do not fit, naming both numbers', async () => {
    const objs = [anObject(1_200_000), anObject(1_000_000)];
    serve(...objs);
    const { dl } = downloader({ dir: join(mnt, 'partial'), reserveBytes: 64 * 1024 });
    const e = await failure(
      dl.download(
        objs.map((o) => o.ref),
        baseUrl,
      ),
    );
    expect(e.reason).toBe('insufficient-space');
    const s = await statfs(mnt);
    const free = s.bavail * s.bsize;
    expect(e.message).toContain(`need ${2_200_000 + 64 * 1024} bytes`);
    expect(e.message).toContain(`only ${free} bytes are free`);
    expect(server.requests).toHaveLength(0);
    expect(await readdir(join(mnt, 'partial'))).toEqual([]);
  });

  it('fails cleanly when the disk fills during the download, and gives the space back', async () => {
    const o = anObject(1_500_000);
    serve(o);
    server.behave = (_req, res, data) => {
      // Slow enough that the filler below lands mid-transfer.
      res.writeHead(200, { 'content-length': data.length });
      let off = 0;
      const t = setInterval(() => {
        if (res.destroyed || off >= data.length) return clearInterval(t);
        res.write(data.subarray(off, off + 64 * 1024));
        off += 64 * 1024;
      }, 10);
      res.on('close', () => clearInterval(t));
      return true;
    };
    let filled = false;
    const { dl } = downloader({ dir: join(mnt, 'partial') });
    const e = await failure(
      dl.download([o.ref], baseUrl, {
        onProgress: (p) => {
          if (filled || p.bytesDone === 0) return;
          filled = true;
          // Another writer takes all the rest of the disk.
          try {
            execFileSync('dd', ['if=/dev/zero', `of=${join(mnt, 'filler')}`, 'bs=64k'], { stdio: 'ignore' });
          } catch {
            // dd exits 1 on ENOSPC, which is the point
          }
        },
      }),
    );
    expect(e.reason).toBe('insufficient-space');
    expect(e.message).toMatch(/disk full while writing/);
    expect(committed).toEqual([]);
    expect(await readdir(join(mnt, 'partial'))).toEqual([]);
  });
});

import { createHash } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Digest, ObjectRef } from '@fleet/protocol';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { downloadObjects, Limiter } from './downloads.js';

const good = Buffer.from('the object the manifest names');
const digestOf = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}` as Digest;
const ref = (b: Buffer, over: Partial<ObjectRef> = {}): ObjectRef => ({
  digest: digestOf(b),
  size: b.length,
  ...over,
});

let server: Server;
let base = '';
const seen: Array<{ url: string; auth: string | undefined }> = [];
// Serves `good` under its own digest, other bytes under a digest that is not theirs, 500 for
// one digest, 404 for anything else.
const corrupt = digestOf(Buffer.from('what the manifest expects'));
const broken = digestOf(Buffer.from('a server error'));

beforeAll(async () => {
  server = createServer((req, res) => {
    seen.push({ url: req.url ?? '', auth: req.headers.authorization });
    const hex = (req.url ?? '').split('/').at(-1);
    if (`sha256:${hex}` === digestOf(good)) res.end(good);
    else if (`sha256:${hex}` === corrupt) res.end(Buffer.from('other bytes, same length!'));
    else if (`sha256:${hex}` === broken) res.writeHead(500).end();
    else res.writeHead(404).end();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/api/v1/objects`;
});
afterAll(() => new Promise<void>((r) => server.close(() => r())));

describe('downloadObjects', () => {
  it('fetches each object from <base>/sha256/<hex> with HTTP Basic and accepts a matching digest', async () => {
    seen.length = 0;
    const failure = await downloadObjects(base, [ref(good)], {
      limiter: new Limiter(2),
      auth: { username: 'device:d1', password: 'pw' },
    });
    expect(failure).toBeNull();
    expect(seen).toEqual([
      {
        url: `/api/v1/objects/sha256/${digestOf(good).slice(7)}`,
        auth: `Basic ${Buffer.from('device:d1:pw').toString('base64')}`,
      },
    ]);
  });

  it('fails with digest-mismatch when the content hashes to another digest', async () => {
    const failure = await downloadObjects(base, [{ digest: corrupt, size: 25 }], { limiter: new Limiter(1) });
    expect(failure).toMatchObject({ reason: 'digest-mismatch', digest: corrupt });
    expect(failure?.message).toContain(`expected ${corrupt}`);
  });

  it('fails with download-failed when the size differs from the manifest, either way', async () => {
    const longer = await downloadObjects(base, [ref(good, { size: good.length - 1 })], {
      limiter: new Limiter(1),
    });
    expect(longer).toMatchObject({ reason: 'download-failed' });
    expect(longer?.message).toContain('longer than the manifest');
    const shorter = await downloadObjects(base, [ref(good, { size: good.length + 1 })], {
      limiter: new Limiter(1),
    });
    expect(shorter?.message).toContain(`${good.length} bytes, the manifest says ${good.length + 1}`);
  });

  it('says object-missing on 404, download-failed on another status, and stops at the first failure', async () => {
    seen.length = 0;
    const missing = digestOf(Buffer.from('nobody has this'));
    expect(
      await downloadObjects(base, [{ digest: missing, size: 1 }, ref(good)], { limiter: new Limiter(1) }),
    ).toMatchObject({ reason: 'object-missing', digest: missing });
    expect(seen).toHaveLength(1);
    expect(
      await downloadObjects(base, [{ digest: broken, size: 1 }], { limiter: new Limiter(1) }),
    ).toMatchObject({
      reason: 'download-failed',
      message: expect.stringContaining('HTTP 500') as unknown,
    });
  });

  it('fails with download-failed when nothing listens', async () => {
    const failure = await downloadObjects('http://127.0.0.1:1/objects', [ref(good)], {
      limiter: new Limiter(1),
    });
    expect(failure).toMatchObject({ reason: 'download-failed' });
  });
});

describe('Limiter', () => {
  it('never runs more than its limit at once and runs every task', async () => {
    const limiter = new Limiter(3);
    let now = 0;
    let peak = 0;
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        limiter.run(async () => {
          peak = Math.max(peak, ++now);
          await new Promise((r) => setImmediate(r));
          now--;
          return i;
        }),
      ),
    );
    expect(results).toEqual(Array.from({ length: 20 }, (_, i) => i));
    expect(peak).toBe(3);
    expect(limiter.load).toEqual({ active: 0, waiting: 0 });
  });

  it('frees the slot of a task that throws', async () => {
    const limiter = new Limiter(1);
    await expect(limiter.run(() => Promise.reject(new Error('boom')))).rejects.toThrow('boom');
    expect(await limiter.run(() => Promise.resolve('next'))).toBe('next');
  });

  it('refuses a limit that is not a positive integer, saying which', () => {
    expect(() => new Limiter(0)).toThrow('download concurrency must be a positive integer, got 0');
    expect(() => new Limiter(1.5)).toThrow('got 1.5');
  });
});

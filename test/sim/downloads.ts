import { createHash } from 'node:crypto';
import { objectUrl, type Digest, type ObjectRef, type ReasonCode } from '@fleet/protocol';

/**
 * At most `limit` tasks in flight; the rest wait in arrival order. One is shared by every
 * simulated device of a process, so thousands of devices downloading at once cannot hold the
 * event loop that also reads their targets (measured: docs/rollouts.md, Benchmark).
 */
export class Limiter {
  private active = 0;
  private readonly waiting: Array<() => void> = [];

  constructor(readonly limit: number) {
    if (!Number.isInteger(limit) || limit < 1)
      throw new RangeError(`download concurrency must be a positive integer, got ${String(limit)}`);
  }

  /** Tasks running now, and waiting for a slot. */
  get load(): { active: number; waiting: number } {
    return { active: this.active, waiting: this.waiting.length };
  }

  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.active < this.limit) this.active++;
    // A released slot passes straight to the waiter (active stays the same).
    else await new Promise<void>((resolve) => this.waiting.push(resolve));
    try {
      return await fn();
    } finally {
      const next = this.waiting.shift();
      if (next) next();
      else this.active--;
    }
  }
}

export interface DownloadFailure {
  reason: Extract<ReasonCode, 'download-failed' | 'digest-mismatch' | 'object-missing'>;
  message: string;
  digest: Digest;
}

export interface DownloadOptions {
  /** HTTP Basic, as the agent sends its broker credentials to the hub's object store. */
  auth?: { username: string; password: string };
  limiter: Limiter;
  signal?: AbortSignal;
}

/**
 * Fetches each object from `<objectBaseUrl>/sha256/<hex>` as the agent's downloader does: the
 * manifest's size is authoritative (a longer or shorter body fails), the sha256 is computed while
 * streaming and must equal the digest. Unlike the agent it keeps nothing on disk and does not
 * retry: the first failure is the outcome. Returns null when every object arrived intact.
 */
export async function downloadObjects(
  objectBaseUrl: string,
  objects: readonly ObjectRef[],
  o: DownloadOptions,
): Promise<DownloadFailure | null> {
  const headers: Record<string, string> = o.auth
    ? { authorization: `Basic ${Buffer.from(`${o.auth.username}:${o.auth.password}`).toString('base64')}` }
    : {};
  for (const obj of objects) {
    const failure = await o.limiter.run(() =>
      fetchOne(objectUrl(objectBaseUrl, obj.digest), obj, headers, o.signal),
    );
    if (failure) return failure;
  }
  return null;
}

async function fetchOne(
  url: string,
  obj: ObjectRef,
  headers: Record<string, string>,
  signal: AbortSignal | undefined,
): Promise<DownloadFailure | null> {
  const fail = (reason: DownloadFailure['reason'], message: string): DownloadFailure => ({
    reason,
    message,
    digest: obj.digest,
  });
  let res: Response;
  try {
    res = await fetch(url, { headers, ...(signal ? { signal } : {}) });
  } catch (error) {
    if (signal?.aborted) throw error;
    return fail('download-failed', `GET ${url}: ${(error as Error).message}`);
  }
  if (res.status === 404)
    return fail('object-missing', `GET ${url}: 404, the hub does not have ${obj.digest}`);
  if (res.status !== 200 || !res.body) {
    await res.body?.cancel();
    return fail('download-failed', `GET ${url}: HTTP ${res.status}`);
  }
  const hash = createHash('sha256');
  let bytes = 0;
  try {
    for await (const chunk of res.body as AsyncIterable<Uint8Array>) {
      bytes += chunk.length;
      if (bytes > obj.size) {
        await res.body.cancel().catch(() => {});
        return fail('download-failed', `GET ${url}: body longer than the manifest's ${obj.size} bytes`);
      }
      hash.update(chunk);
    }
  } catch (error) {
    if (signal?.aborted) throw error;
    return fail('download-failed', `GET ${url}: ${(error as Error).message} after ${bytes} bytes`);
  }
  if (bytes !== obj.size)
    return fail('download-failed', `GET ${url}: ${bytes} bytes, the manifest says ${obj.size}`);
  const got = `sha256:${hash.digest('hex')}`;
  if (got !== obj.digest)
    return fail('digest-mismatch', `GET ${url}: content is ${got}, expected ${obj.digest}`);
  return null;
}

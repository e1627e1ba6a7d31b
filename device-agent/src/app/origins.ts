// Where an update's objects come from. A hub target names an HTTP(S) base URL (the link's
// downloader fetches it); a local install (API `install`, CLI `install <dir>`) names a
// `file:` URL of a directory laid out like the store (`sha256/<hex>`), copied and verified
// into the store. Both go through the same engine path: only the origin differs.
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ObjectRef } from '@fleet/protocol';
import type { ObjectStore } from '../store/object-store.js';
import type { Downloader } from '../update/ports.js';

export function localObjectsDir(baseUrl: string): string | null {
  return baseUrl.startsWith('file:') ? fileURLToPath(baseUrl) : null;
}

export class OriginDownloader implements Downloader {
  constructor(
    private readonly objects: ObjectStore,
    /**
     * The hub downloader; resolves once the link is up (provisioning can take long). Waiting,
     * not failing: after a restart the engine resumes `downloading` before the link has
     * reconnected, and that must not fail the update (found by the power-cut torture).
     */
    private readonly remote: (signal: AbortSignal) => Promise<Downloader>,
  ) {}

  async fetch(
    refs: readonly ObjectRef[],
    baseUrl: string,
    opts: { signal: AbortSignal; onProgress?: (done: number, total: number) => void },
  ): Promise<void> {
    const dir = localObjectsDir(baseUrl);
    if (dir === null) {
      const remote = await this.remote(opts.signal);
      return remote.fetch(refs, baseUrl, opts);
    }
    const total = refs.reduce((n, r) => n + r.size, 0);
    let done = 0;
    for (const r of refs) {
      opts.signal.throwIfAborted();
      const hex = r.digest.slice('sha256:'.length);
      // putFile hashes while copying and refuses a size or digest mismatch: a local directory
      // is trusted no more than a server.
      await this.objects.putFile(r.digest, join(dir, 'sha256', hex), { size: r.size, signal: opts.signal });
      done += r.size;
      opts.onProgress?.(done, total);
    }
  }
}

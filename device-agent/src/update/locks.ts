import { access } from 'node:fs/promises';
import { join } from 'node:path';
import type { UpdateLocks } from './ports.js';

/**
 * Where an app holds its update lock (like balena's `/tmp/balena/updates.lock`). The runtime
 * bind-mounts `<storageDir>/locks/<container>/` into every container at `LOCK_DIR_IN_CONTAINER`;
 * while `updates.lock` exists there, the agent does not stop that container for an update
 * (up to the maximum deferral). Create it with O_CREAT|O_EXCL (`set -C; : > file` in sh) and
 * delete it when the critical work is done. Persisted path: API, never rename.
 */
export const LOCK_DIR_IN_CONTAINER = '/run/fleet';
export const LOCK_FILE = 'updates.lock';

export const lockDirOnHost = (storageDir: string, container: string): string =>
  join(storageDir, 'locks', container);

export class FileUpdateLocks implements UpdateLocks {
  constructor(private readonly storageDir: string) {}

  async held(containers: readonly string[]): Promise<string[]> {
    const holders: string[] = [];
    for (const c of containers) {
      try {
        await access(join(lockDirOnHost(this.storageDir, c), LOCK_FILE));
        holders.push(c);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      }
    }
    return holders;
  }
}

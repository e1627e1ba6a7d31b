import { mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { DurableFiles } from './ports.js';

/**
 * DurableFiles on a real directory. The pointer swap is rename(2) of a complete, fsynced temp
 * file over the old one, which POSIX makes atomic; renameat2(RENAME_EXCHANGE) is not needed
 * here because nothing has to keep the old file under another name. The directory is fsynced
 * after the rename so the new directory entry itself survives a power cut (ext4 otherwise may
 * lose the rename with data=writeback or lazy commit).
 */
export class DirectoryDurableFiles implements DurableFiles {
  // Writes of one name run one at a time: they share the temp file name.
  private readonly queues = new Map<string, Promise<void>>();

  constructor(private readonly dir: string) {}

  async read(name: string): Promise<Buffer | null> {
    try {
      return await readFile(join(this.dir, name));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw e;
    }
  }

  writeAtomic(name: string, data: string): Promise<void> {
    const run = (this.queues.get(name) ?? Promise.resolve()).then(() => this.writeNow(name, data));
    const tail = run.catch(() => undefined);
    this.queues.set(name, tail);
    void tail.then(() => {
      if (this.queues.get(name) === tail) this.queues.delete(name);
    });
    return run;
  }

  private async writeNow(name: string, data: string): Promise<void> {
    await mkdir(this.dir, { recursive: true });
    const path = join(this.dir, name);
    // One temp name per target: a leftover from a crash is simply overwritten next time.
    const tmp = `${path}.tmp`;
    const handle = await open(tmp, 'w', 0o600);
    try {
      await handle.writeFile(data);
      await handle.sync();
    } catch (e) {
      await handle.close().catch(() => {});
      await rm(tmp, { force: true });
      throw e;
    }
    await handle.close();
    await rename(tmp, path);
    const dirHandle = await open(this.dir, 'r');
    try {
      await dirHandle.sync();
    } finally {
      await dirHandle.close();
    }
  }
}

import * as fs from 'node:fs/promises';

/**
 * Crash-safety primitives on node:fs alone. A rename is only durable once the directory
 * holding it is fsynced; on Linux a directory opened read-only can be fsynced.
 */
export async function fsyncDir(dir: string): Promise<void> {
  const fh = await fs.open(dir, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
}

/** Writes `data` to `path` atomically: temp file beside it, fsync, rename, fsync the directory. */
export async function writeFileAtomic(
  path: string,
  data: string | Uint8Array,
  tmpSuffix: string,
): Promise<void> {
  const dir = path.slice(0, path.lastIndexOf('/')) || '/';
  const tmp = `${path}.tmp-${tmpSuffix}`;
  const fh = await fs.open(tmp, 'wx', 0o644);
  try {
    try {
      await fh.writeFile(data);
      await fh.sync();
    } finally {
      await fh.close();
    }
    await fs.rename(tmp, path);
  } catch (e) {
    await fs.rm(tmp, { force: true });
    throw e;
  }
  await fsyncDir(dir);
}

export function errnoCode(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException | undefined)?.code;
}

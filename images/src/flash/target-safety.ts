import { readFile, readdir, realpath, stat } from 'node:fs/promises';
import { basename } from 'node:path';

/** Why a device must not be written, or undefined when it may. */
export interface TargetInfo {
  path: string;
  kind: 'block' | 'file';
  /** Whole-disk kernel name (e.g. "sdb", "loop3"), for block devices. */
  disk?: string;
  capacity?: number;
}

export class UnsafeTargetError extends Error {
  override readonly name = 'UnsafeTargetError';
}

async function diskOfDevNumber(major: number, minor: number): Promise<string | undefined> {
  // /sys/dev/block/M:m links to .../block/<disk>[/<partition>]
  const link = await realpath(`/sys/dev/block/${major}:${minor}`).catch(() => undefined);
  if (!link) return undefined;
  const parts = link.split('/');
  const i = parts.lastIndexOf('block');
  return i >= 0 ? parts[i + 1] : basename(link);
}

/** The kernel names of a disk and its partitions ("sdb", "sdb1", ...). */
async function namesOnDisk(disk: string): Promise<string[]> {
  const entries = await readdir(`/sys/block/${disk}`).catch(() => [] as string[]);
  return [disk, ...entries.filter((e) => e.startsWith(disk))];
}

async function diskHoldingRoot(): Promise<string | undefined> {
  const st = await stat('/');
  // st.dev is the kernel's new-style dev_t: major in bits 8..19, minor in 0..7 and 20..31.
  const major = (st.dev >> 8) & 0xfff;
  const minor = (st.dev & 0xff) | ((st.dev >> 12) & 0xfff00);
  return diskOfDevNumber(major, minor);
}

/**
 * Refuse targets that would destroy a running system: the disk holding `/`, a disk any of
 * whose partitions (or itself) is mounted or used as swap, or one held by device-mapper/md.
 */
export async function checkTarget(path: string, image?: string): Promise<TargetInfo> {
  const st = await stat(path).catch((e: NodeJS.ErrnoException) => {
    throw new UnsafeTargetError(`target ${path} does not exist (${e.code})`);
  });
  if (st.isFile()) {
    if (image && (await realpath(image)) === (await realpath(path)))
      throw new UnsafeTargetError(`target ${path} is the image itself`);
    return { path, kind: 'file' };
  }
  if (!st.isBlockDevice())
    throw new UnsafeTargetError(`target ${path} is neither a block device nor a regular file`);
  const major = (st.rdev >> 8) & 0xfff;
  const minor = (st.rdev & 0xff) | ((st.rdev >> 12) & 0xfff00);
  const disk = await diskOfDevNumber(major, minor);
  if (!disk) throw new UnsafeTargetError(`cannot find ${path} (${major}:${minor}) in /sys/dev/block`);
  const self = basename(await realpath(`/sys/dev/block/${major}:${minor}`));
  if (self !== disk)
    throw new UnsafeTargetError(`${path} is partition ${self} of ${disk}: flash the whole disk`);
  const rootDisk = await diskHoldingRoot();
  if (rootDisk === disk)
    throw new UnsafeTargetError(
      `${path} is the disk holding / (${disk}): refusing to overwrite the running system`,
    );
  const names = new Set(await namesOnDisk(disk));
  const mounts = await readFile('/proc/self/mounts', 'utf8');
  for (const line of mounts.split('\n')) {
    const [source, target] = line.split(' ');
    if (!source?.startsWith('/dev/')) continue;
    const real = await realpath(source).catch(() => source);
    if (names.has(basename(real)))
      throw new UnsafeTargetError(`${path}: ${real} is mounted at ${target}: unmount it first`);
  }
  const swaps = await readFile('/proc/swaps', 'utf8').catch(() => '');
  for (const line of swaps.split('\n').slice(1)) {
    const dev = line.split(/\s+/)[0];
    if (dev && names.has(basename(dev))) throw new UnsafeTargetError(`${path}: ${dev} is in use as swap`);
  }
  for (const name of names) {
    const holders = await readdir(`/sys/class/block/${name}/holders`).catch(() => [] as string[]);
    if (holders.length > 0)
      throw new UnsafeTargetError(`${path}: ${name} is held by ${holders.join(', ')} (device-mapper/md)`);
  }
  const sectors = Number((await readFile(`/sys/block/${disk}/size`, 'utf8')).trim());
  return { path, kind: 'block', disk, capacity: sectors * 512 };
}

import { createHash } from 'node:crypto';
import { lstat, lutimes, readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { run } from './exec.js';

/** A UUID derived from a name, so filesystem ids are stable across builds. */
export function stableUuid(name: string): string {
  const h = createHash('sha256').update(name).digest('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-8${h.slice(17, 20)}-${h.slice(20, 32)}`;
}

/** Paths under root in sorted order (relative, with a leading "/"), directories before their contents. */
export async function walk(root: string, rel = ''): Promise<string[]> {
  const entries = (await readdir(join(root, rel), { withFileTypes: true })).sort((a, b) =>
    a.name < b.name ? -1 : a.name > b.name ? 1 : 0,
  );
  const out: string[] = [];
  for (const entry of entries) {
    const path = `${rel}/${entry.name}`;
    out.push(path);
    if (entry.isDirectory()) out.push(...(await walk(root, path)));
  }
  return out;
}

/** Set every mtime/atime to the epoch and return the tree's apparent size. */
export async function normalizeTree(
  root: string,
  epoch: number,
): Promise<{ paths: string[]; bytes: number }> {
  const paths = await walk(root);
  let bytes = 0;
  for (const path of paths) {
    // debugfs's command parser splits on whitespace and quotes: refuse names it would mangle.
    if (!/^[A-Za-z0-9._+@:,=/[\]-]+$/.test(path))
      throw new Error(`file name not supported in a root filesystem: ${JSON.stringify(path)}`);
    const st = await lstat(join(root, path));
    bytes += st.isFile() ? Math.ceil(st.size / 4096) * 4096 : 4096;
    await lutimes(join(root, path), epoch, epoch);
  }
  await lutimes(root, epoch, epoch);
  return { paths, bytes };
}

export interface Ext4Options {
  sizeBytes: number;
  label: string;
  uuid: string;
  hashSeed: string;
  epoch: number;
  /**
   * Read-only filesystem: no journal (a filesystem never mounted read-write never replays one,
   * and a 200 MiB ext4 carries an 8 MiB journal) and shrunk to its minimum size with
   * `resize2fs -M`, so the file carries no free space. For the A/B slot image, which every
   * system update downloads whole.
   */
  readOnly?: boolean;
}

/**
 * ext4 from a directory with `mke2fs -d` (no loop mount). Reproducible: fixed UUID and hash
 * seed, E2FSPROGS_FAKE_TIME for the superblock, then debugfs sets atime/ctime/mtime/crtime of
 * every inode to the epoch, because `mke2fs -d` copies the source files' ctime (which no
 * tool can set) and reading the tree updates atime. orphan_file is off: U-Boot 2023.01 and
 * older tools do not know it.
 */
export async function makeExt4(
  srcDir: string,
  outFile: string,
  options: Ext4Options,
  signal?: AbortSignal,
): Promise<void> {
  const { paths } = await normalizeTree(srcDir, options.epoch);
  const env = {
    E2FSPROGS_FAKE_TIME: String(options.epoch),
    SOURCE_DATE_EPOCH: String(options.epoch),
    TZ: 'UTC',
  };
  await run('rm', ['-f', outFile]);
  await run(
    'mke2fs',
    [
      '-q',
      '-F',
      '-t',
      'ext4',
      '-b',
      '4096',
      '-O',
      options.readOnly ? '^orphan_file,^has_journal' : '^orphan_file',
      // Blocks reserved for root only matter on a filesystem that is written.
      '-m',
      options.readOnly ? '0' : '5',
      '-L',
      options.label,
      '-U',
      options.uuid,
      '-E',
      `hash_seed=${options.hashSeed},root_owner=0:0`,
      '-d',
      srcDir,
      outFile,
      `${Math.floor(options.sizeBytes / 1024)}k`,
    ],
    { env, ...(signal ? { signal } : {}) },
  );
  // A fresh filesystem needs no e2fsck before resize2fs (and e2fsck would stamp its "last
  // checked" with the real time, breaking reproducibility); resize2fs moves blocks down
  // deterministically and cuts the file to the new end.
  if (options.readOnly) await run('resize2fs', ['-M', outFile], { env, ...(signal ? { signal } : {}) });
  const fields = ['atime', 'ctime', 'mtime', 'crtime'];
  const commands = ['/', ...paths, '/lost+found'].flatMap((p) =>
    fields.map((f) => `set_inode_field ${p} ${f} @${options.epoch}`),
  );
  const script = `${outFile}.debugfs`;
  await writeFile(script, `${commands.join('\n')}\n`);
  await run('debugfs', ['-w', '-f', script, outFile], { env, ...(signal ? { signal } : {}) });
  await run('rm', ['-f', script]);
  await run('e2fsck', ['-fn', outFile], { env, ...(signal ? { signal } : {}) });
}

export interface VfatOptions {
  sizeBytes: number;
  label: string;
  volumeId: string;
  epoch: number;
}

/** FAT from a list of files via mkfs.vfat --invariant + mcopy -m (no loop mount). */
export async function makeVfat(
  files: { src: string; dest: string }[],
  outFile: string,
  options: VfatOptions,
  signal?: AbortSignal,
): Promise<void> {
  const env = { SOURCE_DATE_EPOCH: String(options.epoch), TZ: 'UTC', MTOOLS_SKIP_CHECK: '1' };
  const opt = signal ? { signal } : {};
  await run('rm', ['-f', outFile]);
  await run(
    'mkfs.vfat',
    [
      '-C',
      '--invariant',
      '-i',
      options.volumeId,
      '-n',
      options.label,
      outFile,
      String(Math.floor(options.sizeBytes / 1024)),
    ],
    { env, ...opt },
  );
  const dirs = new Set<string>();
  for (const file of [...files].sort((a, b) => (a.dest < b.dest ? -1 : 1))) {
    const parts = file.dest.split('/').slice(0, -1);
    for (let i = 1; i <= parts.length; i++) {
      const dir = parts.slice(0, i).join('/');
      if (!dirs.has(dir)) {
        dirs.add(dir);
        await run('mmd', ['-i', outFile, `::${dir}`], { env, ...opt });
      }
    }
    await lutimes(file.src, options.epoch, options.epoch);
    await run('mcopy', ['-m', '-i', outFile, file.src, `::${file.dest}`], { env, ...opt });
  }
}

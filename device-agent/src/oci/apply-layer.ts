import { execFile } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import * as fs from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { OciError } from './errors.js';
import { checkSymlink, clampedJoin, classifyWhiteout, entryComponents } from './paths.js';
import type { TarEntry } from './tar-reader.js';

const run = promisify(execFile);

/** Symlink hops allowed while resolving one path, as the kernel's MAXSYMLINKS. */
const MAX_HOPS = 40;

export interface LayerStats {
  entries: number;
  whiteouts: number;
  opaques: number;
}

const key = (c: readonly string[]): string => c.join('/');

function errno(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException | undefined)?.code;
}

/**
 * Applies layers in order onto a root directory the caller owns (a fresh temp dir): the
 * union-filesystem semantics of the OCI image spec (whiteouts, opaque directories) with
 * ownership, modes, xattrs and mtimes as recorded in the tar.
 *
 * Safety: every parent path is resolved component by component inside the root, following
 * symlinks the way a chroot would (absolute targets restart at the root, `..` stops there),
 * and the last component is never followed. So no entry, however crafted, writes outside
 * the root; entries that are plainly hostile (absolute, `..`, escaping links) are refused.
 *
 * Determinism: directory mtimes are applied once at the end ({@link finish}), after every
 * layer changed the directories' contents; directories no entry describes get mtime 0.
 */
export class RootfsBuilder {
  private readonly dirTimes = new Map<string, number>();
  private readonly dirCache = new Map<string, string[]>();
  private hasSetfattr: boolean | undefined;

  constructor(readonly root: string) {}

  async init(): Promise<void> {
    await fs.mkdir(this.root, { recursive: true });
    await fs.chown(this.root, 0, 0);
    await fs.chmod(this.root, 0o755);
    this.dirTimes.set('', 0);
  }

  private abs(c: readonly string[]): string {
    return c.length === 0 ? this.root : join(this.root, ...c);
  }

  /**
   * Resolves a directory path inside the root. With `create`, missing directories are made
   * (root-owned, 0755, mtime 0 like umoci/containerd do) and a non-directory in the way is an
   * error; without it, null is returned for anything missing.
   */
  private async resolveDir(
    components: readonly string[],
    create: boolean,
    what: string,
  ): Promise<string[] | null> {
    const cacheKey = key(components);
    const cached = create ? this.dirCache.get(cacheKey) : undefined;
    if (cached !== undefined) return cached;
    const todo = [...components];
    let cur: string[] = [];
    let hops = 0;
    while (todo.length > 0) {
      const part = todo.shift()!;
      const next = [...cur, part];
      let st;
      try {
        st = await fs.lstat(this.abs(next));
      } catch (e) {
        if (errno(e) !== 'ENOENT') throw e;
        if (!create) return null;
        await fs.mkdir(this.abs(next), { mode: 0o755 });
        await fs.chmod(this.abs(next), 0o755);
        this.dirTimes.set(key(next), 0);
        cur = next;
        continue;
      }
      if (st.isDirectory()) cur = next;
      else if (st.isSymbolicLink()) {
        if (++hops > MAX_HOPS)
          throw new OciError('hostile-entry', `${what}: too many levels of symbolic links`);
        const target = await fs.readlink(this.abs(next));
        todo.unshift(...clampedJoin(cur, target));
        cur = [];
      } else {
        if (!create) return null;
        throw new OciError(
          'corrupt-layer',
          `${what}: parent ${JSON.stringify(key(next))} is not a directory`,
        );
      }
    }
    if (create) this.dirCache.set(cacheKey, cur);
    return cur;
  }

  /** Removes whatever is at `c` (recursively), keeping the directory tables in step. */
  private async remove(
    c: readonly string[],
    st?: { isDirectory(): boolean; isSymbolicLink(): boolean },
  ): Promise<void> {
    const k = key(c);
    if (st !== undefined && !st.isDirectory()) {
      await fs.unlink(this.abs(c));
      // A symlink may have been followed by a cached resolution; a plain file cannot have been.
      if (st.isSymbolicLink()) this.dirCache.clear();
      return;
    }
    await fs.rm(this.abs(c), { recursive: true, force: true });
    for (const d of [...this.dirTimes.keys()]) if (d === k || d.startsWith(`${k}/`)) this.dirTimes.delete(d);
    this.dirCache.clear();
  }

  private async setXattrs(path: string, xattrs: Map<string, Buffer>, what: string): Promise<void> {
    if (xattrs.size === 0) return;
    if (this.hasSetfattr === undefined) {
      this.hasSetfattr = await run('setfattr', ['--version']).then(
        () => true,
        () => false,
      );
    }
    if (!this.hasSetfattr)
      throw new OciError(
        'unsupported',
        `${what} carries xattrs but setfattr (Debian package "attr") is not installed`,
      );
    for (const [name, value] of xattrs) {
      try {
        await run('setfattr', ['-h', '-n', name, '-v', `0x${value.toString('hex')}`, '--', path]);
      } catch (e) {
        throw new OciError(
          'unsupported',
          `${what}: cannot set xattr ${name}: ${(e as { stderr?: string }).stderr?.trim() ?? String(e)}`,
          { cause: e },
        );
      }
    }
  }

  private async applyMeta(
    c: readonly string[],
    entry: TarEntry,
    what: string,
    isLink: boolean,
  ): Promise<void> {
    const path = this.abs(c);
    const h = entry.header;
    await fs.lchown(path, h.uid, h.gid);
    // chmod after chown: chown clears setuid/setgid bits.
    if (!isLink) await fs.chmod(path, h.mode);
    await this.setXattrs(path, entry.xattrs, what);
    if (h.type === 'directory') this.dirTimes.set(key(c), h.mtime);
    else await fs.lutimes(path, h.mtime, h.mtime);
  }

  async applyLayer(entries: AsyncIterable<TarEntry>, signal?: AbortSignal): Promise<LayerStats> {
    const stats: LayerStats = { entries: 0, whiteouts: 0, opaques: 0 };
    // Paths this layer wrote, with all their ancestors: whiteouts only hide lower layers.
    const touched = new Set<string>(['']);
    const whiteouts: string[][] = [];
    const opaques: string[][] = [];
    this.dirCache.clear();

    for await (const entry of entries) {
      signal?.throwIfAborted();
      stats.entries++;
      const h = entry.header;
      const what = `entry ${JSON.stringify(h.name)}`;
      const comps = entryComponents(h.name);
      const wh = classifyWhiteout(comps);
      if (wh.kind === 'meta') continue;
      if (wh.kind === 'opaque' || wh.kind === 'whiteout') {
        // Deferred to the end of the layer: the spec lets same-layer entries come in any order
        // and they must survive their own layer's whiteouts.
        const dir = await this.resolveDir(
          wh.kind === 'opaque' ? wh.dir : wh.target.slice(0, -1),
          false,
          what,
        );
        if (dir === null) continue;
        if (wh.kind === 'opaque') opaques.push(dir);
        else whiteouts.push([...dir, wh.target[wh.target.length - 1]!]);
        continue;
      }
      if (comps.length === 0) {
        if (h.type !== 'directory')
          throw new OciError('hostile-entry', `${what}: the image root must be a directory`);
        await this.applyMeta([], entry, what, false);
        continue;
      }
      const parent = (await this.resolveDir(comps.slice(0, -1), true, what))!;
      const c = [...parent, comps[comps.length - 1]!];
      for (let i = 1; i <= c.length; i++) touched.add(key(c.slice(0, i)));
      const existing = await fs.lstat(this.abs(c)).catch((e: unknown) => {
        if (errno(e) === 'ENOENT') return null;
        throw e;
      });

      switch (h.type) {
        case 'directory': {
          if (existing !== null && !existing.isDirectory()) await this.remove(c, existing);
          if (existing === null || !existing.isDirectory()) await fs.mkdir(this.abs(c));
          await this.applyMeta(c, entry, what, false);
          break;
        }
        case 'file': {
          if (existing !== null) await this.remove(c, existing);
          // 'wx' = O_CREAT|O_EXCL: never follows or reuses anything at that path, so a file
          // hard-linked elsewhere is replaced, not written through.
          await pipeline(
            Readable.from(entry.body),
            createWriteStream(this.abs(c), { flags: 'wx', mode: 0o600 }),
          );
          await this.applyMeta(c, entry, what, false);
          break;
        }
        case 'symlink': {
          checkSymlink(comps, h.linkname);
          if (existing !== null) await this.remove(c, existing);
          await fs.symlink(h.linkname, this.abs(c));
          this.dirCache.clear();
          await this.applyMeta(c, entry, what, true);
          break;
        }
        case 'hardlink': {
          const targetComps = entryComponents(h.linkname, `hard link ${JSON.stringify(h.name)} -> target`);
          if (targetComps.length === 0)
            throw new OciError(
              'hostile-entry',
              `hard link ${JSON.stringify(h.name)}: target is the image root`,
            );
          const tdir = await this.resolveDir(targetComps.slice(0, -1), false, what);
          const t = tdir === null ? null : [...tdir, targetComps[targetComps.length - 1]!];
          const tst = t === null ? null : await fs.lstat(this.abs(t)).catch(() => null);
          if (t === null || tst === null)
            throw new OciError(
              'corrupt-layer',
              `hard link ${JSON.stringify(h.name)} -> ${JSON.stringify(h.linkname)}: target does not exist`,
            );
          if (tst.isDirectory())
            throw new OciError(
              'hostile-entry',
              `hard link ${JSON.stringify(h.name)} -> ${JSON.stringify(h.linkname)}: target is a directory`,
            );
          if (existing !== null && existing.ino === tst.ino && existing.dev === tst.dev) break;
          if (existing !== null) await this.remove(c, existing);
          await fs.link(this.abs(t), this.abs(c));
          break;
        }
        case 'char':
        case 'block':
        case 'fifo': {
          if (existing !== null) await this.remove(c, existing);
          const args =
            h.type === 'fifo'
              ? [this.abs(c), 'p']
              : [this.abs(c), h.type === 'char' ? 'c' : 'b', String(h.devmajor), String(h.devminor)];
          await run('mknod', ['--', ...args]);
          await this.applyMeta(c, entry, what, false);
          break;
        }
        default:
          throw new OciError('unsupported', `${what}: unexpected entry type ${h.type}`);
      }
    }

    for (const dir of opaques) {
      stats.opaques++;
      const names = await fs.readdir(this.abs(dir)).catch(() => [] as string[]);
      for (const name of names) await this.hideLower([...dir, name], touched);
    }
    for (const target of whiteouts) {
      stats.whiteouts++;
      await this.hideLower(target, touched);
    }
    return stats;
  }

  /** Removes what lower layers left at `c`, keeping whatever the current layer wrote there. */
  private async hideLower(c: string[], touched: ReadonlySet<string>): Promise<void> {
    const st = await fs.lstat(this.abs(c)).catch(() => null);
    if (st === null) return;
    if (!touched.has(key(c))) {
      await this.remove(c);
      return;
    }
    if (!st.isDirectory()) return;
    for (const name of await fs.readdir(this.abs(c))) await this.hideLower([...c, name], touched);
  }

  /** Sets directory mtimes, deepest first (setting a child's never touches its parent's). */
  async finish(): Promise<void> {
    const dirs = [...this.dirTimes.entries()].sort(
      (a, b) => b[0].split('/').length - a[0].split('/').length || (a[0] < b[0] ? -1 : 1),
    );
    for (const [k, mtime] of dirs) {
      const c = k === '' ? [] : k.split('/');
      await fs.utimes(this.abs(c), mtime, mtime).catch((e: unknown) => {
        if (errno(e) !== 'ENOENT') throw e;
      });
    }
  }
}

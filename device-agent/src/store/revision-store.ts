import { parseRevisionManifest, type RevisionManifest } from '@fleet/protocol';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs/promises';
import { join } from 'node:path';
import { errnoCode, fsyncDir, writeFileAtomic } from './durable.js';
import { StoreError } from './errors.js';

/**
 * Revisions ("trails") under `<root>/revisions/<n>/manifest.json`, n a positive integer.
 * A manifest is written atomically (temp + fsync + rename + fsync dir): a reader sees the old
 * one or the new one, never half of either. Manifests are validated on write and on read.
 */
export class RevisionStore {
  readonly dir: string;

  constructor(readonly root: string) {
    this.dir = join(root, 'revisions');
  }

  async init(): Promise<void> {
    await fs.mkdir(this.dir, { recursive: true });
  }

  private revDir(n: number): string {
    if (!Number.isSafeInteger(n) || n < 1)
      throw new StoreError('invalid', `revision number ${n} must be a positive integer`);
    return join(this.dir, String(n));
  }

  /** The directory a revision owns (its manifest, its `revision`-persistence volumes). */
  pathOf(n: number): string {
    return this.revDir(n);
  }

  async write(n: number, manifest: RevisionManifest): Promise<void> {
    const parsed = parseRevisionManifest(manifest);
    if (!parsed.ok) throw new StoreError('invalid', `revision ${n}: ${parsed.error.message}`);
    const dir = this.revDir(n);
    const created = await fs.mkdir(dir, { recursive: true });
    if (created !== undefined) await fsyncDir(this.dir);
    await writeFileAtomic(
      join(dir, 'manifest.json'),
      `${JSON.stringify(parsed.value, null, 2)}\n`,
      randomBytes(6).toString('hex'),
    );
  }

  async read(n: number): Promise<RevisionManifest> {
    let text: string;
    try {
      text = await fs.readFile(join(this.revDir(n), 'manifest.json'), 'utf8');
    } catch (e) {
      if (errnoCode(e) === 'ENOENT') throw new StoreError('not-found', `revision ${n} has no manifest`);
      throw e;
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch (e) {
      throw new StoreError('invalid', `revision ${n}: manifest.json is not JSON (${(e as Error).message})`, {
        cause: e,
      });
    }
    const parsed = parseRevisionManifest(json);
    if (!parsed.ok) throw new StoreError('invalid', `revision ${n}: ${parsed.error.message}`);
    return parsed.value;
  }

  /** Revision numbers that have a manifest, ascending. Half-created directories are not revisions. */
  async list(): Promise<number[]> {
    const names = await fs.readdir(this.dir).catch((e: unknown) => {
      if (errnoCode(e) === 'ENOENT') return [] as string[];
      throw e;
    });
    const out: number[] = [];
    for (const name of names) {
      if (!/^[1-9][0-9]*$/.test(name)) continue;
      const has = await fs.access(join(this.dir, name, 'manifest.json')).then(
        () => true,
        () => false,
      );
      if (has) out.push(Number(name));
    }
    return out.sort((a, b) => a - b);
  }

  /**
   * Removes a revision. The manifest goes first (with a directory fsync), so a crash midway
   * leaves a directory without a manifest, which {@link list} already ignores.
   */
  async delete(n: number): Promise<void> {
    const dir = this.revDir(n);
    await fs.rm(join(dir, 'manifest.json'), { force: true });
    await fsyncDir(dir).catch(() => undefined);
    await fs.rm(dir, { recursive: true, force: true });
    await fsyncDir(this.dir);
  }
}

import { ContainerName, type VolumeSpec } from '@fleet/protocol';
import * as fs from 'node:fs/promises';
import { join } from 'node:path';
import { errnoCode, fsyncDir } from './durable.js';
import { StoreError } from './errors.js';

/** What the runtime mounts at `VolumeSpec.path` inside the container. */
export type VolumeMount =
  | { kind: 'bind'; source: string; target: string; readOnly: boolean }
  /** Fresh on every start: the runtime mounts a tmpfs, nothing is stored. */
  | { kind: 'tmpfs'; target: string; readOnly: boolean; options: string[] };

/**
 * Volume directories by persistence:
 * - `permanent`: `<root>/volumes/<container>/<name>`, kept across revisions and rollbacks;
 * - `revision`: `<root>/revisions/<n>/volumes/<container>/<name>`, created empty for each
 *   revision and deleted with it, so a rollback finds the old revision's data untouched;
 * - `boot`: a tmpfs mount spec; the runtime mounts it, the store keeps nothing.
 */
export class VolumeStore {
  constructor(readonly root: string) {}

  private checkNames(container: string, volume: string): void {
    for (const [what, name] of [
      ['container', container],
      ['volume', volume],
    ] as const) {
      if (!ContainerName.safeParse(name).success)
        throw new StoreError('invalid', `${what} name ${JSON.stringify(name)} is not a valid name`);
    }
  }

  pathOf(container: string, volume: VolumeSpec, revision: number): string | null {
    this.checkNames(container, volume.name);
    switch (volume.persistence) {
      case 'permanent':
        return join(this.root, 'volumes', container, volume.name);
      case 'revision':
        if (!Number.isSafeInteger(revision) || revision < 1)
          throw new StoreError('invalid', `revision number ${revision} must be a positive integer`);
        return join(this.root, 'revisions', String(revision), 'volumes', container, volume.name);
      case 'boot':
        return null;
    }
  }

  /** Creates the volume's directory if needed (0755 root, the container chowns what it needs) and returns its mount. */
  async prepare(container: string, volume: VolumeSpec, revision: number): Promise<VolumeMount> {
    const source = this.pathOf(container, volume, revision);
    if (source === null) {
      const options = [
        'mode=0755',
        'nosuid',
        'nodev',
        ...(volume.sizeBytes !== undefined ? [`size=${volume.sizeBytes}`] : []),
      ];
      return { kind: 'tmpfs', target: volume.path, readOnly: volume.readOnly, options };
    }
    const created = await fs.mkdir(source, { recursive: true, mode: 0o755 });
    if (created !== undefined) {
      // Make every new directory entry durable up to the first one that already existed.
      let dir = source;
      while (dir.length >= created.length) {
        const parent = dir.slice(0, dir.lastIndexOf('/'));
        await fsyncDir(parent);
        dir = parent;
      }
    }
    return { kind: 'bind', source, target: volume.path, readOnly: volume.readOnly };
  }

  /** Permanent volumes of containers no kept revision has any more. */
  async listPermanent(): Promise<{ container: string; volume: string }[]> {
    const out: { container: string; volume: string }[] = [];
    const base = join(this.root, 'volumes');
    const containers = await fs.readdir(base).catch((e: unknown) => {
      if (errnoCode(e) === 'ENOENT') return [] as string[];
      throw e;
    });
    for (const c of containers.sort())
      for (const v of (await fs.readdir(join(base, c))).sort()) out.push({ container: c, volume: v });
    return out;
  }

  async removePermanent(container: string, volume: string): Promise<void> {
    this.checkNames(container, volume);
    await fs.rm(join(this.root, 'volumes', container, volume), { recursive: true, force: true });
    await fsyncDir(join(this.root, 'volumes', container)).catch(() => undefined);
  }
}

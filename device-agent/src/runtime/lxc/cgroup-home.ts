// liblxc moves the process that calls start() into `lxc.monitor.<name>` in every cgroup
// hierarchy (research §5.1). The starter process reads where it lives at boot and writes its
// pid back there after each start, so it never pins a monitor cgroup (which would then leak).
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

interface CgroupMount {
  /** Controllers/`name=` options of a v1 hierarchy, or null for the unified (v2) one. */
  readonly controllers: readonly string[] | null;
  readonly root: string;
  readonly mountPoint: string;
}

/** Parse /proc/self/mountinfo lines of cgroup and cgroup2 mounts. Pure. */
export function parseCgroupMounts(mountinfo: string): CgroupMount[] {
  const mounts: CgroupMount[] = [];
  for (const line of mountinfo.split('\n')) {
    const sep = line.indexOf(' - ');
    if (sep < 0) continue;
    const left = line.slice(0, sep).split(' ');
    const right = line.slice(sep + 3).split(' ');
    const fstype = right[0];
    const root = left[3];
    const mountPoint = left[4];
    if (root === undefined || mountPoint === undefined) continue;
    if (fstype === 'cgroup2') mounts.push({ controllers: null, root, mountPoint });
    else if (fstype === 'cgroup') {
      const opts = (right[2] ?? '')
        .split(',')
        .filter(
          (o) =>
            o !== 'rw' &&
            o !== 'ro' &&
            !o.startsWith('release_agent') &&
            o !== 'clone_children' &&
            o !== 'nsdelegate',
        );
      mounts.push({ controllers: opts, root, mountPoint });
    }
  }
  return mounts;
}

/** The `cgroup.procs` files that put a process back where /proc/self/cgroup says it is. Pure. */
export function cgroupProcsFiles(procCgroup: string, mounts: readonly CgroupMount[]): string[] {
  const files: string[] = [];
  for (const line of procCgroup.split('\n')) {
    const m = /^(\d+):([^:]*):(.*)$/.exec(line);
    if (!m) continue;
    const controllers = m[2] ?? '';
    const path = m[3] ?? '/';
    const mount =
      controllers === ''
        ? mounts.find((x) => x.controllers === null)
        : mounts.find(
            (x) => x.controllers !== null && controllers.split(',').every((c) => x.controllers?.includes(c)),
          );
    if (!mount) continue;
    const rel = mount.root !== '/' && path.startsWith(mount.root) ? path.slice(mount.root.length) : path;
    files.push(join(mount.mountPoint, rel, 'cgroup.procs'));
  }
  return [...new Set(files)];
}

export class CgroupHome {
  private constructor(private readonly files: readonly string[]) {}

  static capture(): CgroupHome {
    return new CgroupHome(
      cgroupProcsFiles(
        readFileSync('/proc/self/cgroup', 'utf8'),
        parseCgroupMounts(readFileSync('/proc/self/mountinfo', 'utf8')),
      ),
    );
  }

  /** Move this process back home; returns the files that refused (best effort by design). */
  reenter(): string[] {
    const failed: string[] = [];
    for (const f of this.files) {
      try {
        writeFileSync(f, `${process.pid}\n`);
      } catch {
        failed.push(f);
      }
    }
    return failed;
  }
}

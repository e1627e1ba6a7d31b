// Host /proc helpers: container processes are found by parentage from the host's view.
import { readdir, readFile } from 'node:fs/promises';

/** Parent pid from the contents of /proc/<pid>/stat (the comm field may contain spaces). Pure. */
export function parsePpid(stat: string): number | null {
  const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const ppid = Number(rest[1]);
  return Number.isInteger(ppid) ? ppid : null;
}

export async function ppidOf(pid: number): Promise<number | null> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => null);
  return stat === null ? null : parsePpid(stat);
}

/** Direct children of `pid`, or every descendant when `deep`. */
export async function childrenOf(pid: number, deep = false): Promise<number[]> {
  if (!deep) {
    // One file instead of a scan of every /proc/<pid>/stat (hundreds of reads): the children
    // of pid's main thread, which is all of them for a single-threaded init (CONFIG_PROC_CHILDREN).
    const list = await readFile(`/proc/${pid}/task/${pid}/children`, 'utf8').catch(() => null);
    if (list !== null) return list.split(' ').filter(Boolean).map(Number);
  }
  const byParent = new Map<number, number[]>();
  for (const e of await readdir('/proc')) {
    if (!/^\d+$/.test(e)) continue;
    const ppid = await ppidOf(Number(e));
    if (ppid === null) continue;
    const list = byParent.get(ppid) ?? [];
    list.push(Number(e));
    byParent.set(ppid, list);
  }
  const direct = byParent.get(pid) ?? [];
  if (!deep) return direct;
  const all: number[] = [];
  const queue = [...direct];
  while (queue.length) {
    const p = queue.shift()!;
    all.push(p);
    queue.push(...(byParent.get(p) ?? []));
  }
  return all;
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

// CPU limits for hub replicas in scale.bench.ts (`--replica-cpu`): each replica gets its own
// cgroup (v1 `cpu` controller) with the same CFS quota, so that a replica, not the 2-core
// machine it shares with the broker, the simulator and Postgres, is what limits ingest when one
// replica is compared with two (decision 0093). Needs root and a writable cgroup v1 `cpu`
// hierarchy; anything else fails with a message saying so.
import { existsSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { mkdir, readFile, readdir, rmdir, writeFile } from 'node:fs/promises';
import { getPriority } from 'node:os';
import { join } from 'node:path';

/** CFS period: Linux's default, the one container runtimes use with a CPU limit. */
const PERIOD_US = 100_000;
const PREFIX = 'fleet-scale-bench-';

export interface ThrottleStat {
  /** CFS periods in which a task of the group was runnable. */
  periods: number;
  /** Of those, periods in which the group used its whole quota and was stopped. */
  throttled: number;
  throttledSeconds: number;
}

/** Where this process's cgroup lives in the v1 `cpu` hierarchy (e.g. /sys/fs/cgroup/cpu). */
async function cpuHierarchy(): Promise<string> {
  const mounts = await readFile('/proc/self/mounts', 'utf8');
  const mount = mounts
    .split('\n')
    .map((l) => l.split(' '))
    .find((f) => f[2] === 'cgroup' && (f[3] ?? '').split(',').includes('cpu'))?.[1];
  if (mount === undefined)
    throw new Error(
      '--replica-cpu needs the cgroup v1 cpu controller (cpu.cfs_quota_us); /proc/self/mounts has no cgroup mount with "cpu"',
    );
  const own = (await readFile('/proc/self/cgroup', 'utf8'))
    .split('\n')
    .map((l) => l.split(':'))
    .find((f) => (f[1] ?? '').split(',').includes('cpu'))?.[2];
  return join(mount, own ?? '/');
}

/** One CPU-limited cgroup; `remove()` (or `removeSync()` from an exit handler) deletes it. */
export class CpuLimitGroup {
  readonly #dir: string;
  readonly #parent: string;
  readonly cores: number;
  readonly quotaUs: number;
  readonly periodUs = PERIOD_US;
  readonly shares = Math.round(1024 / 1.25 ** getPriority());
  #removed = false;

  private constructor(parent: string, name: string, cores: number) {
    this.#parent = parent;
    this.#dir = join(parent, `${PREFIX}${process.pid}-${name}`);
    this.cores = cores;
    this.quotaUs = Math.round(cores * PERIOD_US);
  }

  get path(): string {
    return this.#dir;
  }

  /** A new group limited to `cores` (0.3 = 30 ms of CPU per 100 ms, over all its threads). */
  static async create(name: string, cores: number): Promise<CpuLimitGroup> {
    const parent = await cpuHierarchy();
    await removeStaleGroups(parent);
    const group = new CpuLimitGroup(parent, name, cores);
    try {
      await mkdir(group.#dir);
      await writeFile(join(group.#dir, 'cpu.cfs_period_us'), String(PERIOD_US));
      await writeFile(join(group.#dir, 'cpu.cfs_quota_us'), String(group.quotaUs));
      // A group competes with other work on the machine as one entity of weight cpu.shares
      // (1024 = one nice-0 task): the nice of the processes inside only counts within the group.
      // The group gets the weight of this process's nice (`nice -n -10` on the shared machine,
      // the kernel's weights are 1024 / 1.25^nice), so a replica keeps the priority the
      // benchmark runs at and the quota, not other engineers' builds, is what stops it.
      await writeFile(join(group.#dir, 'cpu.shares'), String(group.shares));
    } catch (error) {
      await group.remove().catch(() => undefined);
      throw new Error(
        `--replica-cpu: cannot create or configure cgroup ${group.#dir} (needs root and a writable cgroup v1 cpu hierarchy): ${(error as Error).message}`,
        { cause: error },
      );
    }
    return group;
  }

  /**
   * Moves a process with all its threads (libuv pool, V8 GC threads) into the group: v1's
   * cgroup.procs moves the whole thread group, `tasks` would move one thread.
   */
  async add(pid: number): Promise<void> {
    await writeFile(join(this.#dir, 'cgroup.procs'), String(pid));
    const threads = await readdir(`/proc/${pid}/task`);
    const inGroup = new Set((await readFile(join(this.#dir, 'tasks'), 'utf8')).split('\n').filter(Boolean));
    const outside = threads.filter((t) => !inGroup.has(t));
    if (outside.length > 0) throw new Error(`threads ${outside.join(',')} of ${pid} are not in ${this.#dir}`);
  }

  /** Sets the quota again (`true`) or lifts it (`false`): for unmeasured warm-up work. */
  async limit(on: boolean): Promise<void> {
    await writeFile(join(this.#dir, 'cpu.cfs_quota_us'), String(on ? this.quotaUs : -1));
  }

  async stat(): Promise<ThrottleStat> {
    const text = await readFile(join(this.#dir, 'cpu.stat'), 'utf8');
    const field = (name: string) => Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(text)?.[1] ?? NaN);
    return {
      periods: field('nr_periods'),
      throttled: field('nr_throttled'),
      throttledSeconds: field('throttled_time') / 1e9,
    };
  }

  /** Moves what is left in the group back to the parent, then deletes the group. */
  async remove(): Promise<void> {
    if (this.#removed) return;
    for (let attempt = 0; ; attempt++) {
      try {
        if (!existsSync(this.#dir)) break;
        for (const pid of (await readFile(join(this.#dir, 'cgroup.procs'), 'utf8'))
          .split('\n')
          .filter(Boolean))
          await writeFile(join(this.#parent, 'cgroup.procs'), pid).catch(() => undefined);
        await rmdir(this.#dir);
        break;
      } catch (error) {
        // EBUSY while an exiting task is still being reaped: try again shortly.
        if (attempt >= 20) throw error;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    this.#removed = true;
  }

  /** For process 'exit' handlers, where nothing asynchronous runs. */
  removeSync(): void {
    if (this.#removed || !existsSync(this.#dir)) return;
    try {
      for (const pid of readFileSync(join(this.#dir, 'cgroup.procs'), 'utf8').split('\n').filter(Boolean))
        try {
          writeFileSync(join(this.#parent, 'cgroup.procs'), pid);
        } catch {
          // gone meanwhile
        }
      rmdirSync(this.#dir);
      this.#removed = true;
    } catch (error) {
      console.error(`scale.bench: could not remove cgroup ${this.#dir}: ${(error as Error).message}`);
    }
  }
}

/** Groups a killed earlier run left behind (its pid is gone): emptied and deleted. */
async function removeStaleGroups(parent: string): Promise<void> {
  for (const entry of await readdir(parent)) {
    const pid = new RegExp(`^${PREFIX}(\\d+)-`).exec(entry)?.[1];
    if (pid === undefined || existsSync(`/proc/${pid}`)) continue;
    const dir = join(parent, entry);
    for (const task of (await readFile(join(dir, 'cgroup.procs'), 'utf8')).split('\n').filter(Boolean))
      await writeFile(join(parent, 'cgroup.procs'), task).catch(() => undefined);
    await rmdir(dir).catch(() => undefined);
  }
}

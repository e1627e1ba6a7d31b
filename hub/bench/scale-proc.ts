// Per-process CPU and memory from /proc, for benchmarks that run the hub, the broker, the
// simulated devices and Postgres side by side on one machine: each process's share is read from
// the kernel's accounting (utime + stime in /proc/<pid>/stat), not estimated.
import { readdir, readFile } from 'node:fs/promises';

/** USER_HZ: /proc/<pid>/stat counts CPU time in these ticks (100 on Linux x86 and arm64). */
const CLK_TCK = 100;

/** CPU seconds (user + system) a process has used so far; 0 when it is gone. */
export async function cpuSeconds(pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
  // Fields after the command name (which may hold spaces) start at field 3; utime/stime are 14/15.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11] ?? 0) + Number(fields[12] ?? 0)) / CLK_TCK;
}

/** Resident set size in bytes (VmRSS); 0 when the process is gone. */
export async function rssBytes(pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
  const kb = /^VmRSS:\s+(\d+) kB/m.exec(status)?.[1];
  return kb === undefined ? 0 : Number(kb) * 1024;
}

/** Named groups of pids (a group's CPU is the sum of its processes, e.g. Postgres backends). */
export type ProcessGroups = Record<string, () => number[] | Promise<number[]>>;

export interface CpuShare {
  cpuSeconds: number;
  /** CPU seconds / wall seconds × 100: 100 = one core busy for the whole phase; this machine has 2. */
  percentOfOneCore: number;
}

/**
 * Measures a phase: call `start()`, run the phase, call `stop()`. RSS is sampled every second in
 * between (the peak is reported) for the groups named in `rssOf`.
 */
export class PhaseMeter {
  #start = new Map<string, Map<number, number>>();
  #t0 = 0;
  #timer: NodeJS.Timeout | undefined;
  #rssPeak = new Map<string, number>();

  constructor(
    private readonly groups: ProcessGroups,
    private readonly rssOf: readonly string[] = [],
  ) {}

  async #snapshot(): Promise<Map<string, Map<number, number>>> {
    const out = new Map<string, Map<number, number>>();
    for (const [name, pids] of Object.entries(this.groups)) {
      const m = new Map<number, number>();
      for (const pid of await pids()) m.set(pid, await cpuSeconds(pid));
      out.set(name, m);
    }
    return out;
  }

  async #sampleRss(): Promise<void> {
    for (const name of this.rssOf) {
      let sum = 0;
      for (const pid of await this.groups[name]!()) sum += await rssBytes(pid);
      this.#rssPeak.set(name, Math.max(this.#rssPeak.get(name) ?? 0, sum));
    }
  }

  async start(): Promise<void> {
    this.#start = await this.#snapshot();
    this.#t0 = performance.now();
    await this.#sampleRss();
    // A failed sample (a process gone) must not end the benchmark: the next one tries again.
    this.#timer = setInterval(() => void this.#sampleRss().catch(() => undefined), 1000);
  }

  async stop(): Promise<{
    seconds: number;
    cpu: Record<string, CpuShare>;
    rssPeakMiB: Record<string, number>;
  }> {
    clearInterval(this.#timer);
    await this.#sampleRss();
    const seconds = (performance.now() - this.#t0) / 1000;
    const end = await this.#snapshot();
    const cpu: Record<string, CpuShare> = {};
    for (const [name, pids] of end) {
      let used = 0;
      // A process that started during the phase counts from 0; one that ended is lost (0 - x
      // would be wrong): Postgres backends of a pool live for the whole run.
      for (const [pid, s] of pids) used += s - (this.#start.get(name)?.get(pid) ?? 0);
      cpu[name] = { cpuSeconds: round(used), percentOfOneCore: round((used / seconds) * 100) };
    }
    const rssPeakMiB: Record<string, number> = {};
    for (const [name, bytes] of this.#rssPeak) rssPeakMiB[name] = round(bytes / 2 ** 20);
    return { seconds: round(seconds), cpu, rssPeakMiB };
  }
}

/** Pids of the processes whose command line contains `needle` (e.g. a config file's path). */
export async function pidsByCommandLine(needle: string): Promise<number[]> {
  const pids: number[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    const cmdline = await readFile(`/proc/${entry}/cmdline`, 'utf8').catch(() => '');
    if (cmdline.replaceAll('\0', ' ').includes(needle)) pids.push(Number(entry));
  }
  return pids;
}

export function round(x: number, digits = 2): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

export function percentile(sorted: readonly number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

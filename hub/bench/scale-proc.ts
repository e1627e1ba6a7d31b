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

/**
 * Machine-wide busy CPU seconds over all cores (user, nice, system, irq, softirq, steal from the
 * first line of /proc/stat): whatever runs, the benchmark's processes and other work alike.
 */
export async function machineBusySeconds(): Promise<number> {
  const first = (await readFile('/proc/stat', 'utf8')).split('\n')[0] ?? '';
  const f = first.trim().split(/\s+/).slice(1).map(Number);
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = f;
  return (user + nice + system + irq + softirq + steal) / CLK_TCK;
}

/** Named groups of pids (a group's CPU is the sum of its processes, e.g. Postgres backends). */
export type ProcessGroups = Record<string, () => number[] | Promise<number[]>>;

export interface CpuShare {
  cpuSeconds: number;
  /** CPU seconds / wall seconds × 100: 100 = one core busy for the whole phase; this machine has 2. */
  percentOfOneCore: number;
  /**
   * The busiest one-second interval of the phase, % of one core: a single-threaded process
   * (Mosquitto, the simulator's event loop) near 100 here was saturated, whatever its average.
   */
  peakPercentOfOneCore: number;
}

/** Phase figures: per group CPU and peak RSS, and the whole machine's busy CPU. */
export interface PhaseResult {
  seconds: number;
  cpu: Record<string, CpuShare>;
  rssPeakMiB: Record<string, number>;
  /** All cores, all processes (other work on the machine included): 200 = both cores busy. */
  machine: { busyPercentOfOneCore: number; peakBusyPercentOfOneCore: number };
  /** Seconds since start and each group's (and the machine's) % of one core in the second before. */
  cpuTimeline?: { t: number[]; cpu: Record<string, number[]> };
}

/**
 * Measures a phase: call `start()`, run the phase, call `stop()`. RSS (for the groups named in
 * `rssOf`) and every group's CPU are sampled every second in between: peak RSS and the busiest
 * second's CPU are reported besides the phase's average.
 */
export class PhaseMeter {
  #start = new Map<string, Map<number, number>>();
  #t0 = 0;
  #timer: NodeJS.Timeout | undefined;
  #rssPeak = new Map<string, number>();
  #cpuPeak = new Map<string, number>();
  #last: { at: number; cpu: Map<string, Map<number, number>>; machine: number } | undefined;
  #machine0 = 0;
  #machinePeak = 0;

  /** Per-second CPU of every group (and the machine), when asked for: where a phase's time went. */
  #timeline: { t: number[]; cpu: Record<string, number[]> } | undefined;

  constructor(
    private readonly groups: ProcessGroups,
    private readonly rssOf: readonly string[] = [],
    options: { timeline?: boolean } = {},
  ) {
    if (options.timeline === true) this.#timeline = { t: [], cpu: {} };
  }

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

  async #sampleCpu(): Promise<void> {
    const cpu = await this.#snapshot();
    const machine = await machineBusySeconds();
    const at = performance.now();
    const last = this.#last;
    this.#last = { at, cpu, machine };
    if (last === undefined) return;
    const seconds = (at - last.at) / 1000;
    const tl = this.#timeline;
    tl?.t.push(round((at - this.#t0) / 1000, 1));
    for (const [name, pids] of cpu) {
      // A process new in this sample has no start here: it is left out of this second's peak.
      const known = new Map([...pids].filter(([pid]) => last.cpu.get(name)?.has(pid) === true));
      const percent = (used(last.cpu, name, known) / seconds) * 100;
      this.#cpuPeak.set(name, Math.max(this.#cpuPeak.get(name) ?? 0, percent));
      if (tl !== undefined) (tl.cpu[name] ??= []).push(Math.round(percent));
    }
    const machinePercent = ((machine - last.machine) / seconds) * 100;
    this.#machinePeak = Math.max(this.#machinePeak, machinePercent);
    if (tl !== undefined) (tl.cpu.machine ??= []).push(Math.round(machinePercent));
  }

  async start(): Promise<void> {
    this.#start = await this.#snapshot();
    this.#machine0 = await machineBusySeconds();
    this.#t0 = performance.now();
    this.#last = { at: this.#t0, cpu: this.#start, machine: this.#machine0 };
    await this.#sampleRss();
    // A failed sample (a process gone) must not end the benchmark: the next one tries again.
    this.#timer = setInterval(
      () => void Promise.all([this.#sampleRss(), this.#sampleCpu()]).catch(() => undefined),
      1000,
    );
  }

  async stop(): Promise<PhaseResult> {
    clearInterval(this.#timer);
    await this.#sampleRss();
    const seconds = (performance.now() - this.#t0) / 1000;
    const end = await this.#snapshot();
    const machineEnd = await machineBusySeconds();
    const cpu: Record<string, CpuShare> = {};
    for (const [name, pids] of end) {
      const u = used(this.#start, name, pids);
      cpu[name] = {
        cpuSeconds: round(u),
        percentOfOneCore: round((u / seconds) * 100),
        // A phase shorter than one sample interval has only its average.
        peakPercentOfOneCore: round(Math.max(this.#cpuPeak.get(name) ?? 0, (u / seconds) * 100)),
      };
    }
    const rssPeakMiB: Record<string, number> = {};
    for (const [name, bytes] of this.#rssPeak) rssPeakMiB[name] = round(bytes / 2 ** 20);
    const busy = ((machineEnd - this.#machine0) / seconds) * 100;
    return {
      seconds: round(seconds),
      cpu,
      rssPeakMiB,
      ...(this.#timeline !== undefined ? { cpuTimeline: this.#timeline } : {}),
      machine: {
        busyPercentOfOneCore: round(busy),
        peakBusyPercentOfOneCore: round(Math.max(this.#machinePeak, busy)),
      },
    };
  }
}

/**
 * CPU seconds a group used since `from`. A process that started since counts from 0; one that
 * ended is lost (0 - x would be wrong): Postgres backends of a pool live for the whole run.
 */
function used(from: Map<string, Map<number, number>>, name: string, now: Map<number, number>): number {
  let sum = 0;
  for (const [pid, s] of now) sum += s - (from.get(name)?.get(pid) ?? 0);
  return sum;
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

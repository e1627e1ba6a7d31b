import { readdir, readFile, statfs } from 'node:fs/promises';
import { join } from 'node:path';
import type { TelemetrySample } from '@fleet/protocol';
import { sleep } from './backoff.js';
import type { LinkLogger } from './logger.js';

// ---- pure parsers of /proc and /sys text -------------------------------------------------

/** Jiffies of the aggregate `cpu` line of /proc/stat. */
export interface CpuTimes {
  /** Every column summed except guest and guest_nice (already counted in user and nice). */
  total: number;
  /** idle + iowait: time the CPUs had nothing to run. */
  idle: number;
}

export function parseProcStat(text: string): CpuTimes {
  const line = text.split('\n').find((l) => /^cpu\s/.test(l));
  if (!line) throw new Error('/proc/stat has no aggregate "cpu" line');
  const f = line.trim().split(/\s+/).slice(1).map(Number);
  if (f.length < 4 || f.some((n) => !Number.isFinite(n) || n < 0))
    throw new Error(`/proc/stat cpu line is malformed: "${line}"`);
  const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = f;
  return { total: user + nice + system + idle + iowait + irq + softirq + steal, idle: idle + iowait };
}

/** Busy share of all CPUs between two readings, 0-100. Null when no time passed (same reading). */
export function cpuPercent(prev: CpuTimes, cur: CpuTimes): number | null {
  const total = cur.total - prev.total;
  const idle = cur.idle - prev.idle;
  // A counter going backwards (a CPU taken offline drops its jiffies) gives no usable sample.
  if (total <= 0 || idle < 0 || idle > total) return null;
  return Math.round(((total - idle) / total) * 1000) / 10;
}

export interface MemInfo {
  totalBytes: number;
  availableBytes: number;
}

/** MemAvailable (kernel ≥ 3.14) or, on older kernels, MemFree + Buffers + Cached. */
export function parseMeminfo(text: string): MemInfo {
  const kb = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^(\w+(?:\(\w+\))?):\s+(\d+)(?:\s+kB)?\s*$/.exec(line);
    if (m) kb.set(m[1] as string, Number(m[2]));
  }
  const total = kb.get('MemTotal');
  if (total === undefined) throw new Error('/proc/meminfo has no MemTotal');
  const available =
    kb.get('MemAvailable') ?? (kb.get('MemFree') ?? 0) + (kb.get('Buffers') ?? 0) + (kb.get('Cached') ?? 0);
  return { totalBytes: total * 1024, availableBytes: Math.min(available, total) * 1024 };
}

/** The first field as a non-negative decimal (Number('') is 0, so the format is checked first). */
function firstNumber(text: string): number | null {
  const tok = text.trim().split(/\s+/)[0] ?? '';
  return /^\d+(\.\d+)?$/.test(tok) ? Number(tok) : null;
}

export function parseLoadavg(text: string): number {
  const v = firstNumber(text);
  if (v === null) throw new Error(`/proc/loadavg is malformed: "${text.trim()}"`);
  return v;
}

export function parseUptime(text: string): number {
  const v = firstNumber(text);
  if (v === null) throw new Error(`/proc/uptime is malformed: "${text.trim()}"`);
  return v;
}

/** A thermal zone's `temp` (millidegrees Celsius) in °C; null for a sensor reporting nonsense. */
export function parseThermalTemp(text: string): number | null {
  const t = text.trim();
  if (!/^-?\d+$/.test(t)) return null;
  const c = Number(t) / 1000;
  // Some drivers report -273150 or huge values for a sensor that is absent or failing.
  return c > -100 && c < 250 ? c : null;
}

/** The hottest valid zone: the number an operator cares about on a board with several sensors. */
export function hottest(values: readonly (number | null)[]): number | undefined {
  const valid = values.filter((v): v is number => v !== null);
  return valid.length > 0 ? Math.max(...valid) : undefined;
}

// ---- sampler --------------------------------------------------------------------------------

export interface TelemetrySource {
  readText(path: string): Promise<string>;
  listDir(path: string): Promise<string[]>;
  diskUsage(path: string): Promise<{ totalBytes: number; freeBytes: number }>;
}

/** The real machine. `procRoot` and `sysRoot` are parameters so a test can point elsewhere. */
export function hostTelemetrySource(): TelemetrySource {
  return {
    readText: (p) => readFile(p, 'utf8'),
    listDir: (p) => readdir(p),
    diskUsage: async (p) => {
      const s = await statfs(p);
      // Free for unprivileged writers is what the agent's data can grow into, so "used" is
      // everything else (reserved root blocks included).
      return { totalBytes: s.blocks * s.bsize, freeBytes: s.bavail * s.bsize };
    },
  };
}

export interface TelemetrySamplerOptions {
  source: TelemetrySource;
  /** Disk usage is that of the filesystem holding this directory (the data partition). */
  storageDir: string;
  procRoot?: string;
  sysRoot?: string;
  logger: LinkLogger;
  now?: () => Date;
}

export class TelemetrySampler {
  private prevCpu: CpuTimes | null = null;
  private readonly proc: string;
  private readonly sys: string;

  constructor(private readonly opts: TelemetrySamplerOptions) {
    this.proc = opts.procRoot ?? '/proc';
    this.sys = opts.sysRoot ?? '/sys';
  }

  /**
   * One sample. CPU is the share since the previous call; the first call primes the counter
   * and reports 0 (a single reading of /proc/stat says nothing about now).
   */
  async sample(): Promise<TelemetrySample> {
    const { source } = this.opts;
    const [stat, meminfo, disk] = await Promise.all([
      source.readText(join(this.proc, 'stat')),
      source.readText(join(this.proc, 'meminfo')),
      source.diskUsage(this.opts.storageDir),
    ]);
    const cpu = parseProcStat(stat);
    const pct = this.prevCpu ? cpuPercent(this.prevCpu, cpu) : null;
    this.prevCpu = cpu;
    const mem = parseMeminfo(meminfo);
    const sample: TelemetrySample = {
      time: (this.opts.now?.() ?? new Date()).toISOString(),
      cpuPercent: pct ?? 0,
      memUsedBytes: mem.totalBytes - mem.availableBytes,
      memTotalBytes: mem.totalBytes,
      diskUsedBytes: disk.totalBytes - disk.freeBytes,
      diskTotalBytes: disk.totalBytes,
    };
    const optional = await Promise.allSettled([
      source.readText(join(this.proc, 'loadavg')).then(parseLoadavg),
      source.readText(join(this.proc, 'uptime')).then(parseUptime),
      this.temperature(),
    ]);
    const [load, uptime, temp] = optional;
    if (load?.status === 'fulfilled') sample.load1 = load.value;
    if (uptime?.status === 'fulfilled') sample.uptimeSeconds = uptime.value;
    if (temp?.status === 'fulfilled' && temp.value !== undefined) sample.temperatureC = temp.value;
    return sample;
  }

  private async temperature(): Promise<number | undefined> {
    const dir = join(this.sys, 'class/thermal');
    let zones: string[];
    try {
      zones = (await this.opts.source.listDir(dir)).filter((n) => /^thermal_zone\d+$/.test(n));
    } catch {
      return undefined; // no thermal class (most VMs)
    }
    const temps = await Promise.all(
      zones.map((z) =>
        this.opts.source
          .readText(join(dir, z, 'temp'))
          .then(parseThermalTemp)
          .catch(() => null),
      ),
    );
    return hottest(temps);
  }

  /**
   * Samples every `intervalMs` until the signal aborts, handing each sample to `publish`.
   * A failed sample is logged and skipped; the loop never dies of one bad read.
   */
  async run(
    intervalMs: number,
    publish: (s: TelemetrySample) => Promise<void>,
    signal: AbortSignal,
  ): Promise<void> {
    await this.sample().catch(() => {}); // prime the CPU counter
    while (!signal.aborted) {
      try {
        await sleep(intervalMs, signal);
      } catch {
        break;
      }
      try {
        await publish(await this.sample());
      } catch (e) {
        this.opts.logger.warn(`telemetry sample failed: ${(e as Error).message}`);
      }
    }
  }
}

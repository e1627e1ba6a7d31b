import { describe, expect, it } from 'vitest';
import {
  cpuPercent,
  hottest,
  parseLoadavg,
  parseMeminfo,
  parseProcStat,
  parseThermalTemp,
  parseUptime,
} from './telemetry.js';

// Captured on the development VM (Linux 6.1, 2 CPUs) and on a Raspberry Pi style board.
const STAT_A = `cpu  44510 0 11365 93958 414 0 173 55 0 0
cpu0 21621 0 5085 48398 55 0 28 25 0 0
cpu1 22888 0 6279 45559 359 0 145 29 0 0
intr 2783361 0 9 0 0
ctxt 4617230
btime 1764508242
processes 11018
`;
const STAT_B = `cpu  44610 0 11400 94058 414 0 175 55 0 0
cpu0 21671 0 5100 48448 55 0 29 25 0 0
`;
const MEMINFO = `MemTotal:       24684100 kB
MemFree:        21718700 kB
MemAvailable:   23194288 kB
Buffers:           57404 kB
Cached:          1571104 kB
SwapCached:            0 kB
Active(anon):     512300 kB
HugePages_Total:       0
`;
const MEMINFO_OLD_KERNEL = `MemTotal:         506264 kB
MemFree:          100000 kB
Buffers:           20000 kB
Cached:            80000 kB
`;

describe('/proc/stat', () => {
  it('sums the aggregate line and counts iowait as idle', () => {
    expect(parseProcStat(STAT_A)).toEqual({
      total: 44510 + 11365 + 93958 + 414 + 173 + 55,
      idle: 93958 + 414,
    });
  });

  it('gives the busy share between two readings', () => {
    // delta: user 100, system 35, idle 100, softirq 2 -> total 237, idle 100
    expect(cpuPercent(parseProcStat(STAT_A), parseProcStat(STAT_B))).toBeCloseTo(57.8, 1);
  });

  it('gives null, not a division by zero, for the same reading or counters going back', () => {
    const a = parseProcStat(STAT_A);
    expect(cpuPercent(a, a)).toBeNull();
    expect(cpuPercent(parseProcStat(STAT_B), a)).toBeNull();
  });

  it('accepts old kernels with only four columns', () => {
    expect(parseProcStat('cpu  10 0 10 80\n')).toEqual({ total: 100, idle: 80 });
  });

  it('refuses text without an aggregate cpu line, or a malformed one', () => {
    expect(() => parseProcStat('cpu0 1 2 3 4\n')).toThrow(/no aggregate "cpu" line/);
    expect(() => parseProcStat('cpu  1 x 3 4\n')).toThrow(/malformed/);
  });
});

describe('/proc/meminfo', () => {
  it('uses MemAvailable', () => {
    expect(parseMeminfo(MEMINFO)).toEqual({ totalBytes: 24684100 * 1024, availableBytes: 23194288 * 1024 });
  });

  it('falls back to MemFree + Buffers + Cached on kernels before 3.14', () => {
    expect(parseMeminfo(MEMINFO_OLD_KERNEL)).toEqual({
      totalBytes: 506264 * 1024,
      availableBytes: 200000 * 1024,
    });
  });

  it('refuses text without MemTotal', () => {
    expect(() => parseMeminfo('MemFree: 1 kB\n')).toThrow(/MemTotal/);
  });
});

describe('loadavg, uptime, thermal', () => {
  it('reads the 1-minute load and the uptime', () => {
    expect(parseLoadavg('6.63 2.99 1.34 6/296 941\n')).toBe(6.63);
    expect(parseUptime('758.52 939.58\n')).toBe(758.52);
    expect(() => parseLoadavg('\n')).toThrow(/malformed/);
    expect(() => parseUptime('abc')).toThrow(/malformed/);
  });

  it('converts millidegrees and ignores sensors reporting nonsense', () => {
    expect(parseThermalTemp('48312\n')).toBeCloseTo(48.312);
    expect(parseThermalTemp('-5000\n')).toBe(-5);
    expect(parseThermalTemp('-273150\n')).toBeNull();
    expect(parseThermalTemp('garbage')).toBeNull();
    expect(hottest([null, 41.5, 63.2, null])).toBe(63.2);
    expect(hottest([null])).toBeUndefined();
  });
});

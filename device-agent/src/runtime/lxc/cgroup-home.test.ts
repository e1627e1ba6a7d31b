import { describe, expect, it } from 'vitest';
import { cgroupProcsFiles, parseCgroupMounts } from './cgroup-home.js';
import { parseLastExit } from './lxc-runtime.js';
import { parsePpid } from './proc.js';

const mountinfo = [
  '30 25 0:26 / /sys/fs/cgroup/unified rw,nosuid - cgroup2 cgroup2 rw,nsdelegate',
  '31 25 0:27 / /sys/fs/cgroup/memory rw,nosuid - cgroup cgroup rw,memory',
  '32 25 0:28 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid - cgroup cgroup rw,cpu,cpuacct',
  '33 25 0:29 / /sys/fs/cgroup/systemd rw - cgroup cgroup rw,xattr,name=systemd',
  '34 25 8:1 / / rw - ext4 /dev/vda rw',
].join('\n');

describe('cgroup home', () => {
  it('maps each /proc/self/cgroup line to the cgroup.procs file of its hierarchy', () => {
    const files = cgroupProcsFiles(
      ['4:memory:/sup/abc', '2:cpu,cpuacct:/', '1:name=systemd:/', '0::/', '9:pids:/'].join('\n'),
      parseCgroupMounts(mountinfo),
    );
    expect(files).toEqual([
      '/sys/fs/cgroup/memory/sup/abc/cgroup.procs',
      '/sys/fs/cgroup/cpu,cpuacct/cgroup.procs',
      '/sys/fs/cgroup/systemd/cgroup.procs',
      '/sys/fs/cgroup/unified/cgroup.procs',
    ]);
  });
});

describe('parseLastExit', () => {
  it('takes the last exit status the monitor logged, 0 when none', () => {
    expect(parseLastExit('x - Child <12> ended on error (3)\ny - Child <14> ended on error (137)\n')).toEqual({ code: 137 });
    expect(parseLastExit('Started "/.fleet-init" with pid "5"\n')).toEqual({ code: 0 });
  });
});

describe('parsePpid', () => {
  it('reads the parent even when comm has spaces and parentheses', () => {
    expect(parsePpid('123 (lxc monitor) (x)) S 1 123 123 0')).toBe(1);
    expect(parsePpid('77 (sh) R 42 77')).toBe(42);
  });
});

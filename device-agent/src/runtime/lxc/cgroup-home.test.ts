import { describe, expect, it } from 'vitest';
import { cgroupProcsFiles, parseCgroupMounts } from './cgroup-home.js';

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

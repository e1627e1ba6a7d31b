// Real system calls as root: tmpfs mounts, bind mounts, renameat2 and friends.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, readlink, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  bindMount,
  exchangePaths,
  fsyncPath,
  isNativeError,
  mount,
  statvfs,
  syncfs,
  umount,
  waitPidExit,
  Watchdog,
} from '../../src/index.js';

let dir: string;
const mounted: string[] = [];

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fleet-native-'));
});

afterAll(async () => {
  for (const m of mounted.reverse()) {
    try {
      umount(m, { lazy: true });
    } catch {
      // already unmounted by the test
    }
  }
  await rm(dir, { recursive: true, force: true });
});

function nativeCode(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (isNativeError(err)) return `${err.syscall}:${err.code}`;
    throw err;
  }
  throw new Error('expected a native error');
}

describe('exchangePaths (renameat2 RENAME_EXCHANGE)', () => {
  it('swaps two symlinks atomically: the pointer-swap primitive', async () => {
    await mkdir(join(dir, 'rev1'));
    await mkdir(join(dir, 'rev2'));
    await symlink('rev1', join(dir, 'current'));
    await symlink('rev2', join(dir, 'next'));
    exchangePaths(join(dir, 'current'), join(dir, 'next'));
    expect(await readlink(join(dir, 'current'))).toBe('rev2');
    expect(await readlink(join(dir, 'next'))).toBe('rev1');
  });
  it('swaps two directories with their contents', async () => {
    await mkdir(join(dir, 'a'));
    await mkdir(join(dir, 'b'));
    await writeFile(join(dir, 'a/f'), 'A');
    await writeFile(join(dir, 'b/f'), 'B');
    exchangePaths(join(dir, 'a'), join(dir, 'b'));
    expect(await readFile(join(dir, 'a/f'), 'utf8')).toBe('B');
    expect(await readFile(join(dir, 'b/f'), 'utf8')).toBe('A');
  });
  it('refuses a missing side and a cross-filesystem swap, changing nothing', async () => {
    expect(nativeCode(() => exchangePaths(join(dir, 'current'), join(dir, 'missing')))).toBe(
      'renameat2:ENOENT',
    );
    expect(await readlink(join(dir, 'current'))).toBe('rev2');
    const mnt = join(dir, 'tmpfs-x');
    await mkdir(mnt);
    mount('tmpfs', mnt, 'tmpfs', { data: 'size=1m' });
    mounted.push(mnt);
    await writeFile(join(mnt, 'other'), 'x');
    expect(nativeCode(() => exchangePaths(join(dir, 'current'), join(mnt, 'other')))).toBe('renameat2:EXDEV');
    expect(await readlink(join(dir, 'current'))).toBe('rev2');
    umount(mnt);
  });
});

describe('durability calls', () => {
  it('fsyncs a directory and a file and syncs a filesystem', async () => {
    await writeFile(join(dir, 'durable'), 'x');
    fsyncPath(join(dir, 'durable'));
    fsyncPath(dir);
    syncfs(dir);
    expect(nativeCode(() => fsyncPath(join(dir, 'nope')))).toBe('open:ENOENT');
    expect(nativeCode(() => syncfs(join(dir, 'nope')))).toBe('open:ENOENT');
  });
});

describe('mount, umount2, statvfs', () => {
  it('mounts a sized tmpfs that statvfs measures and that fills up with ENOSPC', async () => {
    const mnt = join(dir, 'tmpfs');
    await mkdir(mnt);
    mount('tmpfs', mnt, 'tmpfs', { flags: ['noSuid', 'noDev'], data: 'size=2m' });
    mounted.push(mnt);
    const s = statvfs(mnt);
    expect(s.totalBytes).toBe(2 * 1024 * 1024);
    expect(s.availableBytes).toBeLessThanOrEqual(s.totalBytes);
    expect(s.readOnly).toBe(false);
    await writeFile(join(mnt, 'half'), Buffer.alloc(1024 * 1024));
    expect(statvfs(mnt).freeBytes).toBeLessThanOrEqual(s.freeBytes - 1024 * 1024);
    await expect(writeFile(join(mnt, 'too-much'), Buffer.alloc(3 * 1024 * 1024))).rejects.toThrow(/ENOSPC/);
    umount(mnt);
    expect(statvfs(mnt).totalBytes).not.toBe(2 * 1024 * 1024);
    expect(nativeCode(() => umount(mnt))).toBe('umount2:EINVAL');
  });

  it('bind-mounts read-only', async () => {
    const src = join(dir, 'bind-src');
    const dst = join(dir, 'bind-dst');
    await mkdir(src);
    await mkdir(dst);
    await writeFile(join(src, 'f'), 'from source');
    bindMount(src, dst, { readOnly: true });
    mounted.push(dst);
    expect(await readFile(join(dst, 'f'), 'utf8')).toBe('from source');
    expect(statvfs(dst).readOnly).toBe(true);
    await expect(writeFile(join(dst, 'g'), 'x')).rejects.toThrow(/EROFS/);
    umount(dst, { lazy: true });
  });

  it('names the cause of a failed mount', async () => {
    expect(nativeCode(() => mount('tmpfs', join(dir, 'no-such-dir'), 'tmpfs'))).toBe('mount:ENOENT');
    expect(nativeCode(() => mount('none', dir, 'no-such-fs'))).toBe('mount:ENODEV');
    expect(nativeCode(() => statvfs(join(dir, 'nope')))).toBe('statvfs:ENOENT');
  });
});

describe('rebootSystem', () => {
  it('reaches reboot(2) after sync: inside a child PID namespace the kernel ends that namespace instead of the host', () => {
    // In a non-initial PID namespace, reboot(RESTART) kills the namespace's init with SIGHUP
    // (kernel reboot_pid_ns). The child refuses to call it unless it really is that init.
    const wrapper = join(import.meta.dirname, '../../src/index.ts');
    const code = `const n = await import(${JSON.stringify(wrapper)}); if (process.pid !== 1) process.exit(3); n.rebootSystem('restart');`;
    const r = spawnSync(
      'unshare',
      [
        '--pid',
        '--fork',
        '--mount-proc',
        process.execPath,
        '--import',
        'tsx',
        '--input-type=module',
        '-e',
        code,
      ],
      {
        cwd: join(import.meta.dirname, '../..'),
        encoding: 'utf8',
      },
    );
    expect(r.status === 3 ? 'not pid 1' : r.signal).toBe('SIGHUP');
  });
});

describe('watchdog', () => {
  // No /dev/watchdog on this VM and no softdog module for its kernel (modprobe softdog fails):
  // the real device path cannot be exercised here; the error path and the ioctl on a
  // non-watchdog device can.
  it('reports a missing device clearly', () => {
    expect(existsSync('/dev/watchdog-fleet-test')).toBe(false);
    expect(nativeCode(() => Watchdog.open('/dev/watchdog-fleet-test'))).toBe('open:ENOENT');
  });
  it('fails the keepalive ioctl on a device that is not a watchdog, and closes with the magic byte', () => {
    const wd = Watchdog.open('/dev/null');
    expect(nativeCode(() => wd.keepalive())).toBe('ioctl:ENOTTY');
    wd.close({ magic: true });
    expect(() => wd.keepalive()).toThrow(/closed/);
  });
  it('refuses a nonsensical timeout before touching the device', () => {
    expect(() => Watchdog.open('/dev/null', { timeoutSeconds: 0 })).toThrow(/whole number of seconds/);
  });
});

describe('waitPidExit (pidfd on the event loop)', () => {
  it('resolves true at the exit, false at the timeout, true for a pid that is gone', async () => {
    const child = spawn('sleep', ['30'], { stdio: 'ignore' });
    const pid = child.pid!;
    const t0 = Date.now();
    expect(await waitPidExit(pid, 50)).toBe(false);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(40);
    // The loop keeps turning while it waits (no thread blocked, nothing polled).
    const ticks: number[] = [];
    const timer = setInterval(() => ticks.push(Date.now()), 5);
    setTimeout(() => child.kill('SIGKILL'), 100);
    expect(await waitPidExit(pid, 20_000)).toBe(true);
    clearInterval(timer);
    expect(ticks.length).toBeGreaterThan(3);
    await new Promise((r) => child.once('exit', r));
    expect(await waitPidExit(pid, 1000)).toBe(true);
    expect(await waitPidExit(pid, 0)).toBe(true);
  });

  it('refuses a bad pid or timeout', () => {
    expect(() => waitPidExit(0, 10)).toThrow(/pid must be a positive process id/);
    expect(() => waitPidExit(1, -1)).toThrow(/timeoutMs must be 0..2147483647/);
    expect(() => waitPidExit(1, Number.NaN)).toThrow(/timeoutMs must be 0..2147483647/);
  });
});

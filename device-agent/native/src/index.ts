// @fleet/native: typed wrapper over the node-addon-api addon (src/native.cc). Everything is
// synchronous and fast except syncfs/fsync/reboot, which wait for the disk by design: they are
// what crash safety is made of.
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

interface Addon {
  exchangePaths(a: string, b: string): void;
  fsyncPath(path: string): void;
  syncfs(path: string): void;
  statvfs(path: string): FsStats;
  mount(source: string, target: string, fstype: string, flags: number, data: string): void;
  umount2(target: string, flags: number): void;
  reboot(cmd: number): void;
  watchdogOpen(path: string): number;
  watchdogKeepalive(fd: number): void;
  watchdogSetTimeout(fd: number, seconds: number): number;
  watchdogClose(fd: number, magic: boolean): void;
  waitPidExit(pid: number, timeoutMs: number): Promise<boolean>;
  constants: Record<
    | 'MS_RDONLY'
    | 'MS_NOSUID'
    | 'MS_NODEV'
    | 'MS_NOEXEC'
    | 'MS_REMOUNT'
    | 'MS_BIND'
    | 'MS_REC'
    | 'MS_PRIVATE'
    | 'MNT_FORCE'
    | 'MNT_DETACH'
    | 'REBOOT_RESTART'
    | 'REBOOT_POWER_OFF'
    | 'REBOOT_HALT',
    number
  >;
}

/** Errors thrown by the addon carry the errno name like Node's fs errors. */
export interface NativeError extends Error {
  readonly code: string;
  readonly errno: number;
  readonly syscall: string;
}

export function isNativeError(err: unknown): err is NativeError {
  return (
    err instanceof Error &&
    typeof (err as Partial<NativeError>).code === 'string' &&
    typeof (err as Partial<NativeError>).syscall === 'string'
  );
}

// src/index.ts and dist/index.js both sit one level under the package root.
const packageRoot = join(dirname(fileURLToPath(import.meta.url)), '..');
const addonPath = join(packageRoot, 'build/Release/fleet_native.node');

function loadAddon(): Addon {
  try {
    return createRequire(import.meta.url)(addonPath) as Addon;
  } catch (err) {
    throw new Error(
      `@fleet/native is not built (${addonPath}: ${(err as Error).message}); run \`pnpm --filter @fleet/native install\` (needs a C++ compiler and Node headers)`,
      { cause: err },
    );
  }
}

/**
 * The `fleet-lxc-start` helper built with the addon: starts one LXC container through liblxc
 * and exits, so the container's monitor is a fork of a tiny C program (decision 0010).
 */
export const lxcStartHelperPath = join(packageRoot, 'build/Release/fleet-lxc-start');

let cached: Addon | null = null;
function addon(): Addon {
  cached ??= loadAddon();
  return cached;
}

export interface FsStats {
  readonly blockSize: number;
  readonly totalBytes: number;
  readonly freeBytes: number;
  /** What an unprivileged writer may use (free minus the root reserve). */
  readonly availableBytes: number;
  readonly totalInodes: number;
  readonly freeInodes: number;
  readonly readOnly: boolean;
}

/** Atomically swap two existing paths (renameat2 RENAME_EXCHANGE); both must exist on one filesystem. */
export function exchangePaths(a: string, b: string): void {
  addon().exchangePaths(a, b);
}

/** fsync a directory (or file) by path: makes a rename or a new entry in it durable. */
export function fsyncPath(path: string): void {
  addon().fsyncPath(path);
}

/** Flush the whole filesystem that holds `path`. */
export function syncfs(path: string): void {
  addon().syncfs(path);
}

export function statvfs(path: string): FsStats {
  return addon().statvfs(path);
}

export type MountFlag =
  'readOnly' | 'noSuid' | 'noDev' | 'noExec' | 'remount' | 'bind' | 'recursive' | 'private';

const FLAG_NAMES: Record<MountFlag, keyof Addon['constants']> = {
  readOnly: 'MS_RDONLY',
  noSuid: 'MS_NOSUID',
  noDev: 'MS_NODEV',
  noExec: 'MS_NOEXEC',
  remount: 'MS_REMOUNT',
  bind: 'MS_BIND',
  recursive: 'MS_REC',
  private: 'MS_PRIVATE',
};

export interface MountOptions {
  readonly flags?: readonly MountFlag[];
  /** Filesystem-specific options, e.g. "size=1m,mode=0755". */
  readonly data?: string;
}

export function mount(source: string, target: string, fstype: string | null, opts: MountOptions = {}): void {
  const c = addon().constants;
  const flags = (opts.flags ?? []).reduce((acc, f) => acc | c[FLAG_NAMES[f]], 0);
  addon().mount(source, target, fstype ?? '', flags, opts.data ?? '');
}

export function bindMount(
  source: string,
  target: string,
  opts: { readonly readOnly?: boolean; readonly recursive?: boolean } = {},
): void {
  mount(source, target, null, { flags: opts.recursive ? ['bind', 'recursive'] : ['bind'] });
  // A read-only bind needs a second, remounting call: MS_RDONLY is ignored on the first.
  if (opts.readOnly) mount('', target, null, { flags: ['bind', 'remount', 'readOnly'] });
}

export function umount(
  target: string,
  opts: { readonly lazy?: boolean; readonly force?: boolean } = {},
): void {
  const c = addon().constants;
  addon().umount2(target, (opts.lazy ? c.MNT_DETACH : 0) | (opts.force ? c.MNT_FORCE : 0));
}

/**
 * Resolves true when process `pid` has exited (or does not exist), false after `timeoutMs`.
 * A pidfd watched by the event loop: no thread, no polling, woken at the exit itself. Throws
 * (pidfd_open's errno, e.g. ENOSYS before Linux 5.3) when it cannot watch; callers poll then.
 */
export function waitPidExit(pid: number, timeoutMs: number): Promise<boolean> {
  return addon().waitPidExit(pid, timeoutMs);
}

export type RebootMode = 'restart' | 'power-off' | 'halt';

/** sync(), then reboot(2). Returns only by throwing (EPERM without CAP_SYS_BOOT). */
export function rebootSystem(mode: RebootMode): never {
  const c = addon().constants;
  addon().reboot(
    mode === 'restart' ? c.REBOOT_RESTART : mode === 'power-off' ? c.REBOOT_POWER_OFF : c.REBOOT_HALT,
  );
  throw new Error('reboot(2) returned without an error');
}

/**
 * A hardware (or softdog) watchdog. Pet it from the agent's main loop only: if the loop
 * stalls, the pets stop and the board resets.
 */
export class Watchdog {
  private fd: number | null;

  private constructor(
    fd: number,
    readonly path: string,
  ) {
    this.fd = fd;
  }

  static open(path = '/dev/watchdog', opts: { readonly timeoutSeconds?: number } = {}): Watchdog {
    const wd = new Watchdog(addon().watchdogOpen(path), path);
    if (opts.timeoutSeconds !== undefined) {
      if (!Number.isInteger(opts.timeoutSeconds) || opts.timeoutSeconds < 1) {
        wd.close({ magic: true });
        throw new RangeError(
          `watchdog timeout must be a whole number of seconds >= 1, got ${opts.timeoutSeconds}`,
        );
      }
      addon().watchdogSetTimeout(wd.requireFd(), opts.timeoutSeconds);
    }
    return wd;
  }

  private requireFd(): number {
    if (this.fd === null) throw new Error(`watchdog ${this.path} is closed`);
    return this.fd;
  }

  keepalive(): void {
    addon().watchdogKeepalive(this.requireFd());
  }

  /** Pet every `intervalMs` on the event loop; returns the function that stops petting. */
  petWhileAlive(intervalMs: number): () => void {
    const timer = setInterval(() => this.keepalive(), intervalMs);
    return () => clearInterval(timer);
  }

  /** Close; with `magic` the driver is told the stop is intended ('V'), so it does not reset. */
  close(opts: { readonly magic: boolean }): void {
    const fd = this.requireFd();
    this.fd = null;
    addon().watchdogClose(fd, opts.magic);
  }
}

// ContainerRuntime on liblxc. The runtime keeps no state in memory that matters: everything
// lives under its lxcpath (LXC config + fleet.json per container), and containers run
// daemonized under their own `[lxc monitor]`, re-parented to pid 1. A new agent process
// constructing an LxcRuntime on the same lxcpath therefore sees, and adopts, what runs.
import { execFile } from 'node:child_process';
import { constants, existsSync, readFileSync, renameSync } from 'node:fs';
import {
  access,
  chown,
  mkdir,
  open,
  readdir,
  readFile,
  rename,
  rm,
  rmdir,
  stat,
  writeFile,
} from 'node:fs/promises';
import { constants as osConstants } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { setTimeout as sleep } from 'node:timers/promises';
import { waitPidExit } from '@fleet/native';
import type { ContainerSpec } from '@fleet/protocol';
import {
  CONTAINER_NAME_LABEL,
  RuntimeError,
  type ContainerRuntime,
  type ContainerStatus,
  type CreateRequest,
  type ExecOptions,
  type ExecResult,
  type RootfsSource,
  type RuntimeState,
  type StopResult,
} from '../container-runtime.js';
import type { BridgeNetwork } from '../network/bridge.js';
import { attachRun } from './attach.js';
import { parseCgroupMounts } from './cgroup-home.js';
import { childrenOf, isAlive } from './proc.js';
import { initArgv, launchArgv, renderLxcConfig, type NetworkPlan, type ResolvedDevice } from './config.js';
import type { Liblxc, LxcState } from './liblxc.js';
import type { Starter } from './starter.js';

const run = promisify(execFile);
const NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;
const META = 'fleet.json';

/** What the runtime persists next to the LXC config. */
interface Meta {
  readonly version: 1;
  readonly argv: string[];
  readonly labels: Record<string, string>;
  readonly rootfs: RootfsSource;
  readonly lowerDir: string;
  readonly network: ContainerSpec['network'];
  readonly stopTimeoutMs: number;
  readonly stopSignal: string;
  readonly uid: number;
  readonly gid: number;
  readonly cwd: string;
  readonly env: Record<string, string>;
  /** Host side of FLEET_RUN_DIR (absent for containers defined without one). */
  readonly updateLockDir?: string;
}

export interface LxcRuntimeOptions {
  readonly lxc: Liblxc;
  readonly starter: Starter;
  /** Directory of this agent's containers; nothing else should live there. */
  readonly lxcpath: string;
  /** Needed only for `network: bridge` containers. */
  readonly bridge?: BridgeNetwork;
  readonly consoleLogMaxBytes?: number;
}

const STATE_MAP: Record<LxcState, RuntimeState> = {
  STOPPED: 'stopped',
  STARTING: 'starting',
  RUNNING: 'running',
  STOPPING: 'stopping',
  ABORTING: 'stopping',
  FREEZING: 'running',
  FROZEN: 'frozen',
  THAWED: 'running',
};

/**
 * How the last run ended, from the monitor's INFO log: "Child <pid> ended on error (N)" for a
 * non-zero exit, "ended on signal <name>(N)" when init itself was killed (shell convention
 * 128+N), nothing for a clean exit.
 */
export function parseLastExit(lxcLog: string): { code: number } {
  let code = 0;
  for (const m of lxcLog.matchAll(/Child <\d+> ended on (error \((\d+)\)|signal [^(\n]*\((\d+)\))/g)) {
    code = m[2] !== undefined ? Number(m[2]) : 128 + Number(m[3]);
  }
  return { code };
}

/**
 * Remove the empty cgroups LXC left for `name`. When a container exits while the process that
 * started it is still inside `lxc.monitor.<name>` (it exits within milliseconds), the monitor's
 * cleanup fails with EBUSY and LXC later picks `<name>-1`, `-2`... rmdir only succeeds on an
 * empty cgroup, so a live container's cgroups are never touched.
 */
async function removeStaleCgroups(name: string, mounts: readonly { mountPoint: string }[]): Promise<void> {
  const pattern = new RegExp(`^lxc\\.(monitor|payload)\\.${name}(-\\d+)?$`);
  for (const m of mounts) {
    const entries = await readdir(m.mountPoint).catch(() => [] as string[]);
    for (const e of entries) {
      if (pattern.test(e)) await rmdir(join(m.mountPoint, e)).catch(() => undefined);
    }
  }
}

/** The init pid liblxc logged at NOTICE for this run (`Started "/.fleet-init" with pid "N"`). */
export function startedPid(lxcLog: string): number | null {
  let pid: number | null = null;
  for (const m of lxcLog.matchAll(/Started "[^"\n]*" with pid "(\d+)"/g)) pid = Number(m[1]);
  return pid !== null && pid > 1 ? pid : null;
}

function readLogSync(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

/**
 * Waits up to `ms` for `pid` to exit; true when it did. A pidfd on the event loop (@fleet/native):
 * the stop returns at the exit itself, where polling every 25 ms added 12 ms on average and
 * woke the agent 40 times a second. Polls when the addon is not built or the kernel lacks pidfd.
 */
async function exitOf(pid: number, ms: number): Promise<boolean> {
  try {
    return await waitPidExit(pid, Math.max(0, Math.round(ms)));
  } catch {
    await sleep(Math.min(25, Math.max(1, ms)));
    return !isAlive(pid);
  }
}

async function isMountPoint(dir: string): Promise<boolean> {
  const info = await readFile('/proc/self/mountinfo', 'utf8');
  return info.split('\n').some((l) => l.split(' ')[4] === dir);
}

export class LxcRuntime implements ContainerRuntime {
  readonly lxcpath: string;
  private cgroupMounts: ReturnType<typeof parseCgroupMounts> | null = null;

  constructor(private readonly o: LxcRuntimeOptions) {
    if (!o.lxcpath.startsWith('/'))
      throw new RuntimeError(
        `lxcpath must be absolute (liblxc keys its command socket on it), got ${o.lxcpath}`,
      );
    this.lxcpath = o.lxcpath;
  }

  private dir(name: string): string {
    if (!NAME.test(name)) throw new RuntimeError(`bad container name "${name}": 1-63 of a-z, 0-9 and "-"`);
    return join(this.lxcpath, name);
  }

  private async meta(name: string): Promise<Meta | null> {
    try {
      // A sub-KiB file on every start/stop/state: read synchronously. On a loaded board the
      // thread-pool round trip of an async read costs more than the read itself.
      return JSON.parse(readFileSync(join(this.dir(name), META), 'utf8')) as Meta;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw new RuntimeError(`cannot read ${name}/${META}: ${(err as Error).message}`);
    }
  }

  private async mounts(): Promise<ReturnType<typeof parseCgroupMounts>> {
    this.cgroupMounts ??= parseCgroupMounts(await readFile('/proc/self/mountinfo', 'utf8'));
    return this.cgroupMounts;
  }

  private async requireMeta(name: string): Promise<Meta> {
    const m = await this.meta(name);
    if (!m) throw new RuntimeError(`container ${name} is not defined under ${this.lxcpath}`);
    return m;
  }

  private withContainer<T>(name: string, fn: (c: ReturnType<Liblxc['open']>) => T | Promise<T>): Promise<T> {
    const c = this.o.lxc.open(name, this.lxcpath);
    return Promise.resolve()
      .then(() => fn(c))
      .finally(() => c.put());
  }

  async create(req: CreateRequest, signal?: AbortSignal): Promise<void> {
    const dir = this.dir(req.name);
    const { spec } = req;
    const argv = initArgv(spec);
    if (!(spec.start.stopSignal in osConstants.signals))
      throw new RuntimeError(`start.stopSignal: ${spec.start.stopSignal} is not a signal this host knows`);
    const current = await this.state(req.name);
    if (current.state !== 'absent' && current.state !== 'stopped') {
      throw new RuntimeError(`container ${req.name} is ${current.state}; stop it before redefining it`);
    }
    for (const v of spec.volumes) {
      if (!req.volumes[v.name]) throw new RuntimeError(`volume "${v.name}" of ${req.name} has no source`);
    }
    await this.checkRootfs(req.rootfs);
    const devices = await Promise.all(spec.devices.map((d) => this.resolveDevice(d.path, d.permissions)));
    signal?.throwIfAborted();

    let network: NetworkPlan;
    let allocated = false;
    if (spec.network === 'bridge') {
      if (!this.o.bridge)
        throw new RuntimeError(
          `container ${req.name} wants network "bridge" but the runtime has no bridge configured`,
        );
      await this.o.bridge.ensure();
      network = {
        mode: 'bridge',
        bridge: this.o.bridge.options.name,
        ...(await this.o.bridge.allocate(req.name)),
      };
      allocated = true;
    } else network = { mode: spec.network };

    const lowerDir = req.rootfs.kind === 'dir' ? req.rootfs.path : join(dir, 'lower');
    let config: string;
    try {
      // Render (pure, may refuse) before touching the disk: a refused spec leaves nothing behind.
      config = renderLxcConfig({
        name: req.name,
        spec,
        lowerDir,
        upperDir: join(dir, 'upper'),
        volumes: spec.volumes.map((v) => ({
          containerPath: v.path,
          source: req.volumes[v.name]!,
          readOnly: v.readOnly,
        })),
        devices,
        network,
        consoleLog: join(dir, 'console.log'),
        consoleLogMaxBytes: this.o.consoleLogMaxBytes ?? 1024 * 1024,
        lxcLog: join(dir, 'lxc.log'),
        // The LXC name is an instance name (`web-0123456789ab`); the app sees its manifest name.
        ...(req.labels?.[CONTAINER_NAME_LABEL] !== undefined
          ? { hostname: req.labels[CONTAINER_NAME_LABEL] }
          : {}),
        ...(req.updateLockDir !== undefined ? { runDir: req.updateLockDir } : {}),
      });
    } catch (err) {
      if (allocated && current.state === 'absent') await this.o.bridge?.release(req.name);
      throw err;
    }
    // Redefining a stopped container: drop what the old definition held and the new one does not.
    const old = current.state === 'stopped' ? await this.meta(req.name) : null;
    if (
      old?.rootfs.kind === 'squashfs' &&
      (req.rootfs.kind !== 'squashfs' || old.rootfs.path !== req.rootfs.path)
    )
      await this.unmountLower(req.name, old);
    if (old?.network === 'bridge' && spec.network !== 'bridge') await this.o.bridge?.release(req.name);
    await mkdir(join(dir, 'upper'), { recursive: true });
    if (req.rootfs.kind === 'squashfs') await mkdir(lowerDir, { recursive: true });
    const [uid, gid] = spec.start.user.split(':').map(Number);
    if (req.updateLockDir !== undefined) await ensureLockDir(req.updateLockDir, uid ?? 0, gid ?? 0);
    const meta: Meta = {
      version: 1,
      argv,
      labels: { ...(req.labels ?? {}) },
      rootfs: req.rootfs,
      lowerDir,
      network: spec.network,
      stopTimeoutMs: spec.start.stopTimeoutMs,
      stopSignal: spec.start.stopSignal,
      uid: uid ?? 0,
      gid: gid ?? 0,
      cwd: spec.start.cwd,
      env: { ...spec.start.env, ...(spec.config ?? {}) },
      ...(req.updateLockDir !== undefined ? { updateLockDir: req.updateLockDir } : {}),
    };
    // Config first, meta last: a container without fleet.json is not ours yet (list() skips it).
    await writeAtomic(join(dir, 'config'), config);
    await writeAtomic(join(dir, META), JSON.stringify(meta, null, 2));
    // Mounted now, not at start: an update defines the new instance while the old one still
    // serves, so the loop mount (~150-250 ms on a loaded 2-core VM) stays out of its outage.
    await this.mountLower(req.name, meta);
  }

  private async checkRootfs(rootfs: RootfsSource): Promise<void> {
    const st = await stat(rootfs.path).catch(() => null);
    if (!st) throw new RuntimeError(`rootfs ${rootfs.kind} ${rootfs.path} does not exist`);
    if (rootfs.kind === 'dir' && !st.isDirectory())
      throw new RuntimeError(`rootfs ${rootfs.path} is not a directory`);
    if (rootfs.kind === 'squashfs') {
      if (!st.isFile()) throw new RuntimeError(`rootfs ${rootfs.path} is not a file`);
      const fh = await open(rootfs.path, 'r');
      try {
        const magic = Buffer.alloc(4);
        await fh.read(magic, 0, 4, 0);
        if (magic.toString('latin1') !== 'hsqs')
          throw new RuntimeError(`rootfs ${rootfs.path} is not a squashfs image (bad magic)`);
      } finally {
        await fh.close();
      }
    }
  }

  private async resolveDevice(path: string, permissions: string): Promise<ResolvedDevice> {
    const st = await stat(path).catch(() => null);
    if (!st || !(st.isCharacterDevice() || st.isBlockDevice()))
      throw new RuntimeError(`device ${path} does not exist on this host or is not a device node`);
    // Linux dev_t encoding (new_decode_dev).
    const rdev = st.rdev;
    const major = ((rdev >> 8) & 0xfff) | (Math.floor(rdev / 2 ** 32) & ~0xfff);
    const minor = (rdev & 0xff) | ((rdev >> 12) & 0xfff00);
    return { path, type: st.isCharacterDevice() ? 'c' : 'b', major, minor, permissions };
  }

  private async mountLower(name: string, meta: Meta): Promise<void> {
    if (meta.rootfs.kind !== 'squashfs') return;
    if (await isMountPoint(meta.lowerDir)) return;
    try {
      await run('mount', ['-t', 'squashfs', '-o', 'ro,loop', meta.rootfs.path, meta.lowerDir]);
    } catch (err) {
      throw new RuntimeError(
        `cannot mount rootfs ${meta.rootfs.path} of ${name}: ${(err as { stderr?: string }).stderr?.trim() ?? (err as Error).message}`,
      );
    }
  }

  private async unmountLower(name: string, meta: Meta): Promise<void> {
    if (meta.rootfs.kind !== 'squashfs' || !(await isMountPoint(meta.lowerDir))) return;
    await run('umount', ['-d', meta.lowerDir]).catch((err: { stderr?: string }) => {
      throw new RuntimeError(`cannot unmount rootfs of ${name}: ${err.stderr?.trim() ?? ''}`);
    });
  }

  async start(name: string, signal?: AbortSignal): Promise<ContainerStatus> {
    const dir = this.dir(name);
    const meta = await this.requireMeta(name);
    const running = await this.withContainer(name, (c) => c.isRunning());
    if (running) throw new RuntimeError(`container ${name} is already running`);
    await this.mountLower(name, meta);
    // A missing bind source fails the whole start: recreate the lock dir if someone cleaned it.
    if (meta.updateLockDir !== undefined) await ensureLockDir(meta.updateLockDir, meta.uid, meta.gid);
    // Cheap probe on one hierarchy; the full sweep only when a leftover is there.
    const mounts = await this.mounts();
    const probe = mounts[0]?.mountPoint;
    if (
      probe &&
      (existsSync(join(probe, `lxc.monitor.${name}`)) || existsSync(join(probe, `lxc.payload.${name}`)))
    ) {
      await removeStaleCgroups(name, mounts);
    }
    signal?.throwIfAborted();
    // Keep one previous log: it tells how the last run ended and why a start failed. Sync
    // like meta(): a thread-pool round trip costs more than the rename on a loaded board.
    try {
      renameSync(join(dir, 'lxc.log'), join(dir, 'lxc.log.1'));
    } catch {
      // no log yet
    }
    let initPid: number | null;
    try {
      initPid = await this.o.starter.start(this.lxcpath, name, launchArgv(name, meta.argv));
    } catch (err) {
      throw new RuntimeError(
        `start of ${name} failed: ${(err as Error).message}${await this.logErrors(name)}`,
      );
    }
    // start() returned true: the container runs (it may exit right after, which the next
    // state() sees). The served helper does not ask the monitor for the init pid (one more
    // round trip between two processes per start): the monitor logged it before it reported
    // RUNNING, in the lxc.log of this run (the previous one was renamed above).
    initPid ??= startedPid(readLogSync(join(dir, 'lxc.log')));
    if (initPid === null) return this.state(name);
    return { name, state: 'running', initPid, labels: meta.labels, lastExit: null };
  }

  private async logErrors(name: string): Promise<string> {
    const log = await readFile(join(this.dir(name), 'lxc.log'), 'utf8').catch(() => '');
    const errors = log
      .split('\n')
      .filter((l) => / (ERROR|WARN) /.test(l))
      .map((l) => l.replace(/^.*? - /, ''))
      .slice(-5);
    return errors.length ? `; lxc.log: ${errors.join(' | ')}` : '';
  }

  async stop(name: string, opts: { timeoutMs?: number } = {}): Promise<StopResult> {
    const meta = await this.requireMeta(name);
    const timeoutMs = opts.timeoutMs ?? meta.stopTimeoutMs;
    return this.withContainer(name, async (c) => {
      // One state round trip to the monitor answers both "running?" and "frozen?" (is_running
      // is state != STOPPED inside liblxc).
      const state = c.state();
      if (state === 'STOPPED') return { graceful: true };
      if (state === 'FROZEN') await c.unfreeze();
      const initPid = c.initPid();
      if (timeoutMs > 0 && initPid !== null) {
        // The stop signal goes to the workload (init's child), not to init: LXC's init answers
        // SIGTERM/SIGPWR by killing everything one second later, which would cut the image's
        // stop timeout short. When the workload exits, init exits with its status.
        const signaled = new Set<number>();
        const signalWorkload = async () => {
          for (const pid of await childrenOf(initPid)) {
            if (signaled.has(pid)) continue;
            signaled.add(pid);
            try {
              process.kill(pid, meta.stopSignal as NodeJS.Signals);
            } catch {
              // exited meanwhile
            }
          }
        };
        await signalWorkload();
        const deadline = Date.now() + timeoutMs;
        let exited = !isAlive(initPid);
        while (!exited && Date.now() < deadline) {
          // Stopped right after its start, init may not have forked the workload yet: without
          // the rescan every 100 ms the stop signal reached nobody and every such stop waited
          // out its timeout.
          const left = deadline - Date.now();
          exited = await exitOf(initPid, signaled.size === 0 ? Math.min(100, left) : left);
          if (!exited && signaled.size === 0) await signalWorkload();
        }
        if (exited) {
          await c.wait('STOPPED', 5);
          return { graceful: true };
        }
      }
      if (!(await c.stop()) && c.isRunning())
        throw new RuntimeError(`cannot kill container ${name}${await this.logErrors(name)}`);
      return { graceful: false };
    });
  }

  async kill(name: string): Promise<void> {
    await this.requireMeta(name);
    await this.withContainer(name, async (c) => {
      // stop() of a stopped container returns true (its command socket refuses): no separate
      // is_running round trip to the monitor first.
      if (!(await c.stop()) && c.isRunning()) throw new RuntimeError(`cannot kill container ${name}`);
    });
  }

  async freeze(name: string): Promise<void> {
    await this.withContainer(name, async (c) => {
      if (!(await c.freeze())) throw new RuntimeError(`cannot freeze ${name}`);
    });
  }

  async unfreeze(name: string): Promise<void> {
    await this.withContainer(name, async (c) => {
      if (!(await c.unfreeze())) throw new RuntimeError(`cannot unfreeze ${name}`);
    });
  }

  async remove(name: string): Promise<void> {
    const dir = this.dir(name);
    const meta = await this.meta(name);
    const exists = await access(join(dir, 'config'), constants.F_OK).then(
      () => true,
      () => false,
    );
    if (!meta && !exists) return;
    if (exists)
      await this.withContainer(name, async (c) => {
        if (c.isRunning() && !(await c.stop()) && c.isRunning())
          throw new RuntimeError(`cannot kill container ${name} before removing it`);
      });
    if (meta) await this.unmountLower(name, meta);
    if (meta?.network === 'bridge') await this.o.bridge?.release(name);
    await rm(dir, { recursive: true, force: true });
    await removeStaleCgroups(name, await this.mounts());
  }

  async state(name: string): Promise<ContainerStatus> {
    const meta = await this.meta(name);
    if (!meta) return { name, state: 'absent', initPid: null, labels: {}, lastExit: null };
    return this.withContainer(name, async (c) => {
      const state = STATE_MAP[c.state()];
      const initPid = state === 'stopped' ? null : c.initPid();
      let lastExit: ContainerStatus['lastExit'] = null;
      if (state === 'stopped') {
        const log = await readFile(join(this.dir(name), 'lxc.log'), 'utf8').catch(() => null);
        if (log !== null && /Started \S+ with pid/.test(log)) lastExit = parseLastExit(log);
      }
      return { name, state, initPid, labels: meta.labels, lastExit };
    });
  }

  async exec(name: string, argv: readonly string[], opts: ExecOptions): Promise<ExecResult> {
    if (argv.length === 0) throw new RuntimeError('exec: argv must name a command');
    const meta = await this.requireMeta(name);
    return attachRun(
      {
        lxcpath: this.lxcpath,
        name,
        uid: meta.uid,
        gid: meta.gid,
        cwd: meta.cwd,
        env: { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', ...meta.env },
      },
      argv,
      opts,
    );
  }

  async logs(name: string, opts: { tailBytes?: number } = {}): Promise<string> {
    const dir = this.dir(name);
    const read = (f: string) => readFile(join(dir, f), 'utf8').catch(() => '');
    const all = (await read('console.log.1')) + (await read('console.log'));
    return opts.tailBytes !== undefined ? all.slice(-opts.tailBytes) : all;
  }

  /**
   * Follow the console log: what is there (or only new output with `fromEnd`), then every new
   * chunk until `signal` aborts. Like `tail -F`: the open handle keeps reading the file LXC
   * rotated away (console.log -> console.log.1) to its end before switching to the new one, so
   * nothing is lost unless the log rotates twice within one poll.
   */
  async *followLogs(
    name: string,
    opts: { readonly signal: AbortSignal; readonly fromEnd?: boolean; readonly pollMs?: number },
  ): AsyncGenerator<string> {
    const file = join(this.dir(name), 'console.log');
    const openCurrent = () => open(file, 'r').catch(() => null);
    let fh = await openCurrent();
    let offset = opts.fromEnd && fh ? (await fh.stat()).size : 0;
    const drain = async (): Promise<string> => {
      if (!fh) return '';
      const chunks: Buffer[] = [];
      for (;;) {
        const buf = Buffer.alloc(64 * 1024);
        const { bytesRead } = await fh.read(buf, 0, buf.length, offset);
        if (bytesRead === 0) break;
        offset += bytesRead;
        chunks.push(buf.subarray(0, bytesRead));
      }
      return Buffer.concat(chunks).toString('utf8');
    };
    try {
      while (!opts.signal.aborted) {
        const text = await drain();
        if (text) yield text;
        const onDisk = await stat(file).catch(() => null);
        const mine = fh ? await fh.stat() : null;
        if (onDisk && (!mine || onDisk.ino !== mine.ino)) {
          // Rotated (or created): the old handle is drained above; read what was appended to
          // it since, then move to the new file.
          const rest = await drain();
          if (rest) yield rest;
          await fh?.close();
          fh = await openCurrent();
          offset = 0;
          continue;
        }
        await sleep(opts.pollMs ?? 200, undefined, { signal: opts.signal }).catch(() => undefined);
      }
    } finally {
      await fh?.close();
    }
  }

  async list(): Promise<ContainerStatus[]> {
    const entries = await readdir(this.lxcpath, { withFileTypes: true }).catch(() => []);
    const out: ContainerStatus[] = [];
    for (const e of entries) {
      if (!e.isDirectory() || !NAME.test(e.name)) continue;
      const s = await this.state(e.name);
      if (s.state !== 'absent') out.push(s);
    }
    return out.sort((a, b) => a.name.localeCompare(b.name));
  }
}

/**
 * The update lock directory: shared by every instance of one container (the lock must survive
 * the app's restarts and an update's new instance), writable by the workload's user only.
 */
async function ensureLockDir(dir: string, uid: number, gid: number): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o755 });
  await chown(dir, uid, gid);
}

async function writeAtomic(path: string, data: string): Promise<void> {
  const tmp = `${path}.tmp`;
  await writeFile(tmp, data);
  await rename(tmp, path);
}

// Client side of the starter process (see starter-main.ts and decision 0010).
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { methodOffset } from './layout.js';
import { StartReply, StarterHello } from './starter-protocol.js';

export interface StarterCommand {
  readonly command: string;
  readonly args: readonly string[];
  readonly cwd?: string;
}

/**
 * How to run starter-main next to this module: the compiled `.js` in production; from TS
 * source (tests, dev) through the `tsx` loader, resolved from the package directory.
 */
export function defaultStarterCommand(): StarterCommand {
  const here = fileURLToPath(import.meta.url);
  const dir = dirname(here);
  if (here.endsWith('.ts')) {
    return {
      command: process.execPath,
      args: ['--import', 'tsx', join(dir, 'starter-main.ts')],
      cwd: resolve(dir, '../../..'),
    };
  }
  return { command: process.execPath, args: [join(dir, 'starter-main.js')] };
}

export class StarterError extends Error {
  override readonly name = 'StarterError';
}

/** Whatever calls liblxc's start() (which forks its caller) on the agent's behalf. */
export interface Starter {
  /** Start container `name` with `argv`; resolves with the init pid when known. */
  start(lxcpath: string, name: string, argv: readonly string[]): Promise<number | null>;
  close(): Promise<void>;
}

/**
 * Starts each container by running the `fleet-lxc-start` C helper (built with @fleet/native):
 * a fresh tiny process per start, so the monitor copies almost nothing. The helper gets the
 * function-pointer offsets from our layout table (it has no liblxc headers either).
 */
export class ExecStarter implements Starter {
  constructor(private readonly helperPath: string) {}

  start(lxcpath: string, name: string, argv: readonly string[]): Promise<number | null> {
    const layout = (['is_defined', 'is_running', 'init_pid', 'start', 'want_daemonize'] as const)
      .map((m) => `${m}=${methodOffset(m)}`)
      .join(',');
    return new Promise((resolve, reject) => {
      execFile(this.helperPath, ['--layout', layout, lxcpath, name, '--', ...argv], (err, stdout, stderr) => {
        if (err) {
          const why = stderr.trim() || err.message;
          reject(
            new StarterError(
              (err as NodeJS.ErrnoException).code === 'ENOENT'
                ? `start helper ${this.helperPath} is missing (build @fleet/native)`
                : why,
            ),
          );
          return;
        }
        const pid = Number(stdout.trim());
        resolve(Number.isInteger(pid) && pid > 0 ? pid : null);
      });
    });
  }

  async close(): Promise<void> {
    // Nothing persistent: every start is its own process.
  }
}

interface Pending {
  resolve: (pid: number | null) => void;
  reject: (err: Error) => void;
}

/** One long-lived starter process, spawned on first use and again after it dies. */
export class StarterClient implements Starter {
  private child: ChildProcess | null = null;
  private ready: Promise<StarterHello> | null = null;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private stderrTail = '';

  constructor(private readonly cmd: StarterCommand = defaultStarterCommand()) {}

  /** Start container `name` with `argv`; resolves with the init pid when liblxc reported one. */
  async start(lxcpath: string, name: string, argv: readonly string[]): Promise<number | null> {
    await this.ensure();
    const child = this.child;
    if (!child?.stdin) throw new StarterError('starter process is not running');
    const id = this.nextId++;
    return new Promise<number | null>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      child.stdin?.write(`${JSON.stringify({ id, lxcpath, name, argv })}\n`);
    });
  }

  /** Pid of the starter process (for tests and diagnostics), once spawned. */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  private ensure(): Promise<StarterHello> {
    if (this.ready) return this.ready;
    const child = spawn(this.cmd.command, [...this.cmd.args], {
      cwd: this.cmd.cwd,
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.child = child;
    this.stderrTail = '';
    this.ready = new Promise<StarterHello>((resolveHello, rejectHello) => {
      let hello = false;
      const rl = createInterface({ input: child.stdout! });
      rl.on('line', (line) => {
        let msg: unknown;
        try {
          msg = JSON.parse(line);
        } catch {
          return;
        }
        if (!hello) {
          const h = StarterHello.safeParse(msg);
          if (h.success) {
            hello = true;
            resolveHello(h.data);
          }
          return;
        }
        const r = StartReply.safeParse(msg);
        if (!r.success) return;
        const p = this.pending.get(r.data.id);
        if (!p) return;
        this.pending.delete(r.data.id);
        if (r.data.ok) p.resolve(r.data.initPid ?? null);
        else p.reject(new StarterError(r.data.error ?? 'start failed'));
      });
      child.stderr!.on('data', (d: Buffer) => {
        this.stderrTail = (this.stderrTail + d.toString()).slice(-2000);
      });
      child.on('error', (err) => rejectHello(new StarterError(`cannot spawn starter: ${err.message}`)));
      child.on('exit', (code, sig) => {
        const err = new StarterError(
          `starter process exited (${sig ?? code})${this.stderrTail ? `: ${this.stderrTail.trim()}` : ''}`,
        );
        if (!hello) rejectHello(err);
        for (const p of this.pending.values()) p.reject(err);
        this.pending.clear();
        if (this.child === child) {
          this.child = null;
          this.ready = null;
        }
      });
    });
    // An unhandled rejection here would crash the agent; callers see it through start().
    this.ready.catch(() => undefined);
    return this.ready;
  }

  /** Close stdin and wait for the starter to exit (in-flight starts finish first). */
  async close(): Promise<void> {
    const child = this.child;
    if (!child) return;
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    child.stdin?.end();
    await exited;
  }
}

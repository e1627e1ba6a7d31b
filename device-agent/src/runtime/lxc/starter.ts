// Client side of the starter process (see starter-main.ts and decision 0010).
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { dirname, join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { methodOffset } from './layout.js';
import { parseStartReply, parseStarterHello, type StarterHello } from './starter-protocol.js';

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

/** The function-pointer offsets the C helper needs, from our single layout table. */
function helperLayoutArg(): string {
  return (['is_defined', 'is_running', 'init_pid', 'start', 'want_daemonize'] as const)
    .map((m) => `${m}=${methodOffset(m)}`)
    .join(',');
}

function missingHelper(path: string): StarterError {
  return new StarterError(`start helper ${path} is missing (build @fleet/native)`);
}

/**
 * Starts each container by running the `fleet-lxc-start` C helper (built with @fleet/native)
 * once per start: a fresh tiny process per start, so the monitor copies almost nothing. The
 * helper gets the function-pointer offsets from our layout table (it has no liblxc headers
 * either). HelperStarter does the same through one long-lived helper, without the spawn.
 */
export class ExecStarter implements Starter {
  constructor(private readonly helperPath: string) {}

  start(lxcpath: string, name: string, argv: readonly string[]): Promise<number | null> {
    return new Promise((resolve, reject) => {
      execFile(
        this.helperPath,
        ['--layout', helperLayoutArg(), lxcpath, name, '--', ...argv],
        (err, stdout, stderr) => {
          if (err) {
            reject(
              (err as NodeJS.ErrnoException).code === 'ENOENT'
                ? missingHelper(this.helperPath)
                : new StarterError(stderr.trim() || err.message),
            );
            return;
          }
          const pid = Number(stdout.trim());
          resolve(Number.isInteger(pid) && pid > 0 ? pid : null);
        },
      );
    });
  }

  async close(): Promise<void> {
    // Nothing persistent: every start is its own process.
  }
}

interface Pending {
  /** HelperStarter: the helper the request went to (only its exit fails it). */
  child?: ChildProcess;
  resolve: (pid: number | null) => void;
  reject: (err: Error) => void;
}

export type HelperReply =
  | { readonly id: number; readonly ok: true; readonly initPid: number | null }
  | { readonly id: number; readonly ok: false; readonly error: string };

/**
 * One line of `fleet-lxc-start --serve` output: `<id> ok <pid>` or `<id> err <message>`, or
 * null when the line is neither. A pid of 0 or below (the helper could not learn it, e.g. the
 * container had already exited) means "not known", not an error.
 */
export function parseHelperReply(line: string): HelperReply | null {
  const m = /^(\d+) (?:ok (-?\d+)|err (.*))$/.exec(line);
  if (!m) return null;
  const id = Number(m[1]);
  if (m[2] !== undefined) {
    const pid = Number(m[2]);
    return { id, ok: true, initPid: pid > 0 ? pid : null };
  }
  return { id, ok: false, error: m[3] || 'start failed' };
}

/**
 * One long-lived `fleet-lxc-start --serve` process (spawned on first use, again after it
 * died): the agent writes a request on its stdin, a child the helper forked in advance reads
 * it, calls liblxc's start() and answers on stdout (`ok 0`: the init pid is not asked for, the
 * runtime reads it from lxc.log; decision 0024). Same monitors as ExecStarter (forks of a small C process,
 * default signal dispositions, the helper never enters a monitor cgroup), without spawning a
 * program from Node for every start: that spawn (fork of the agent, exec, dynamic linking of
 * liblxc) was the largest part of a start's cost on a loaded machine (docs/runtime.md).
 * Starts run in parallel (one child each). The helper is unref'd while idle, so it never keeps
 * the agent's process alive; closing its stdin (close(), or the agent dying) ends it.
 */
export class HelperStarter implements Starter {
  private child: ChildProcess | null = null;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private stderrTail = '';

  constructor(
    private readonly helperPath: string,
    private readonly startTimeoutMs = 120_000,
  ) {}

  /** Pid of the helper process (for tests and diagnostics), once spawned. */
  get pid(): number | undefined {
    return this.child?.pid;
  }

  start(lxcpath: string, name: string, argv: readonly string[]): Promise<number | null> {
    const fields = [lxcpath, name, ...argv];
    if (argv.length === 0) return Promise.reject(new StarterError('start: argv must name a program'));
    // Fields travel NUL-terminated; C strings cannot hold a NUL anyway.
    const bad = fields.find((f) => f.includes('\0'));
    if (bad !== undefined)
      return Promise.reject(new StarterError(`start: argument contains a NUL byte: ${JSON.stringify(bad)}`));
    const child = this.ensure();
    const id = this.nextId++;
    return new Promise<number | null>((resolve, reject) => {
      // Bounded: liblxc's start() answers in milliseconds, or fails; a start that never answers
      // (a helper wedged in a kernel wait) must fail the step, not hang the engine silently.
      const timer = setTimeout(
        () =>
          this.settle(id, (p) =>
            p.reject(
              new StarterError(
                `start of ${name}: no answer from the start helper in ${this.startTimeoutMs / 1000} s`,
              ),
            ),
          ),
        this.startTimeoutMs,
      );
      timer.unref();
      this.pending.set(id, {
        child,
        resolve: (pid) => (clearTimeout(timer), resolve(pid)),
        reject: (err) => (clearTimeout(timer), reject(err)),
      });
      this.setRef(child, true);
      // The byte length first: the helper's spare child reads exactly one request with
      // unbuffered reads, so the next spare finds the next request intact.
      const body = Buffer.from([String(id), lxcpath, name, String(argv.length), ...argv].join('\0') + '\0');
      child.stdin!.write(Buffer.concat([Buffer.from(`${body.length}\0`), body]));
    });
  }

  private setRef(child: ChildProcess, on: boolean): void {
    for (const h of [child, child.stdin, child.stdout, child.stderr] as const) {
      const r = h as unknown as { ref?: () => void; unref?: () => void } | null;
      if (on) r?.ref?.();
      else r?.unref?.();
    }
  }

  private settle(id: number, fn: (p: Pending) => void): void {
    const p = this.pending.get(id);
    if (!p) return;
    this.pending.delete(id);
    fn(p);
    if (this.pending.size === 0 && this.child) this.setRef(this.child, false);
  }

  /** Fails the starts sent to `child` (not those a newer helper already took). */
  private rejectAll(child: ChildProcess, err: Error): void {
    for (const [id, p] of [...this.pending]) if (p.child === child) this.settle(id, (q) => q.reject(err));
  }

  private ensure(): ChildProcess {
    if (this.child) return this.child;
    const child = spawn(this.helperPath, ['--layout', helperLayoutArg(), '--serve'], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    this.child = child;
    this.stderrTail = '';
    let spawnError: Error | null = null;
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const reply = parseHelperReply(line);
      if (reply === null) {
        // Dropping a line would leave its start pending for ever, and the update engine behind
        // it (the CI torture hung on `ok -1` once). We cannot tell whose reply it was: fail
        // every start in flight and start afresh with a new helper.
        const err = new StarterError(
          `start helper sent a reply it should not: ${JSON.stringify(line.slice(0, 200))}`,
        );
        if (this.child === child) this.child = null;
        this.rejectAll(child, err);
        child.stdin?.end();
        child.kill('SIGKILL');
        return;
      }
      this.settle(reply.id, (p) =>
        reply.ok ? p.resolve(reply.initPid) : p.reject(new StarterError(reply.error)),
      );
    });
    child.stderr!.on('data', (d: Buffer) => {
      this.stderrTail = (this.stderrTail + d.toString()).slice(-2000);
    });
    // EPIPE when the helper died with requests unwritten: 'exit' rejects them.
    child.stdin!.on('error', () => undefined);
    child.on('error', (err) => {
      spawnError =
        (err as NodeJS.ErrnoException).code === 'ENOENT'
          ? missingHelper(this.helperPath)
          : new StarterError(`cannot spawn start helper: ${err.message}`);
    });
    child.on('close', (code, sig) => {
      const err =
        spawnError ??
        new StarterError(
          `start helper exited (${sig ?? code})${this.stderrTail ? `: ${this.stderrTail.trim()}` : ''}`,
        );
      if (this.child === child) this.child = null;
      this.rejectAll(child, err);
    });
    return child;
  }

  /** Close stdin and wait for the helper to exit (starts in flight finish first). */
  async close(): Promise<void> {
    const child = this.child;
    if (!child) return;
    const closed = new Promise<void>((r) => child.once('close', () => r()));
    this.setRef(child, true);
    child.stdin?.end();
    await closed;
  }
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
          const h = parseStarterHello(msg);
          if (h) {
            hello = true;
            resolveHello(h);
          }
          return;
        }
        const r = parseStartReply(msg);
        if (!r) return;
        const p = this.pending.get(r.id);
        if (!p) return;
        this.pending.delete(r.id);
        if (r.ok) p.resolve(r.initPid ?? null);
        else p.reject(new StarterError(r.error ?? 'start failed'));
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

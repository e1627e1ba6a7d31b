import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream } from 'node:fs';

/** A long-running child whose output goes to a log file, stopped with SIGTERM then SIGKILL. */
export class ManagedProcess {
  private child: ChildProcess | undefined;
  private stopping = false;

  constructor(
    readonly name: string,
    private readonly command: string,
    private readonly args: readonly string[],
    private readonly opts: {
      env?: NodeJS.ProcessEnv;
      logFile: string;
      cwd?: string;
      onExit?: (code: number | null, signal: NodeJS.Signals | null) => void;
    },
  ) {}

  start(): void {
    const log = createWriteStream(this.opts.logFile, { flags: 'a' });
    this.child = spawn(this.command, this.args, {
      cwd: this.opts.cwd,
      env: this.opts.env ?? process.env,
      stdio: ['ignore', 'pipe', 'pipe'],
      // Own process group: Ctrl-C in the terminal reaches us, and we stop children in order.
      detached: true,
    });
    this.child.stdout?.pipe(log);
    this.child.stderr?.pipe(log);
    this.child.once('exit', (code, signal) => {
      log.end();
      if (!this.stopping) this.opts.onExit?.(code, signal);
    });
  }

  get pid(): number | undefined {
    return this.child?.pid;
  }

  get running(): boolean {
    return !!this.child && this.child.exitCode === null && this.child.signalCode === null;
  }

  async stop(timeoutMs = 20_000): Promise<void> {
    this.stopping = true;
    const c = this.child;
    if (!c || !this.running) return;
    const exited = new Promise<void>((r) => c.once('exit', () => r()));
    c.kill('SIGTERM');
    const t = setTimeout(() => c.kill('SIGKILL'), timeoutMs);
    await exited;
    clearTimeout(t);
  }
}

/** Runs a command to completion; throws with its output when it fails. */
export async function run(
  command: string,
  args: readonly string[],
  opts: { env?: NodeJS.ProcessEnv; input?: string; cwd?: string } = {},
): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = spawn(command, args, {
      env: opts.env ?? process.env,
      cwd: opts.cwd,
      // stdin only when there is input: a command that exits without reading it (ip, lxc-ls)
      // would otherwise fail our write with EPIPE.
      stdio: [opts.input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    c.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    c.stderr?.on('data', (d: Buffer) => (err += d.toString()));
    c.once('error', reject);
    c.once('close', (code) =>
      code === 0
        ? resolve(out)
        : reject(
            new Error(
              `${command} ${args.join(' ')} failed (exit ${code}):\n${(err || out).trim().slice(-2000)}`,
            ),
          ),
    );
    if (c.stdin) {
      c.stdin.on('error', () => {}); // the exit status tells what happened
      c.stdin.end(opts.input);
    }
  });
}

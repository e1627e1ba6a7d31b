// Run a command inside a running container. liblxc's attach() forks its caller like start()
// does, so it runs out of process through `lxc-attach` (same liblxc, its own short-lived
// process): it joins every namespace and the container's cgroups, drops to the container's
// capabilities, and forwards SIGTERM to the attached command (decision 0010).
import { spawn } from 'node:child_process';
import type { ExecOptions, ExecResult } from '../container-runtime.js';
import { childrenOf } from './proc.js';

const MAX_OUTPUT = 64 * 1024;

export interface AttachTarget {
  readonly lxcpath: string;
  readonly name: string;
  readonly uid: number;
  readonly gid: number;
  readonly cwd: string;
  readonly env: Readonly<Record<string, string>>;
}

export function attachArgs(
  t: AttachTarget,
  argv: readonly string[],
  extraEnv: Readonly<Record<string, string>> = {},
): string[] {
  const args = ['-P', t.lxcpath, '-n', t.name, '--clear-env', '-u', String(t.uid), '-g', String(t.gid)];
  for (const [k, v] of Object.entries({ ...t.env, ...extraEnv })) args.push('-v', `${k}=${v}`);
  return [...args, '--', ...argv];
}

export function attachRun(t: AttachTarget, argv: readonly string[], opts: ExecOptions): Promise<ExecResult> {
  return new Promise<ExecResult>((resolve, reject) => {
    if (opts.signal?.aborted) {
      reject(opts.signal.reason instanceof Error ? opts.signal.reason : new Error('aborted'));
      return;
    }
    const child = spawn('lxc-attach', attachArgs(t, argv, opts.env), { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.on('data', (d: Buffer) => {
      if (stdout.length < MAX_OUTPUT) stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      if (stderr.length < MAX_OUTPUT) stderr += d.toString();
    });
    const terminate = () => {
      // Without a pty lxc-attach forwards no signal: kill the attached command (its
      // descendants seen from the host) first, then lxc-attach itself.
      const pid = child.pid;
      if (pid === undefined) return;
      void childrenOf(pid, true).then((pids) => {
        for (const p of pids.reverse()) {
          try {
            process.kill(p, 'SIGKILL');
          } catch {
            // already gone
          }
        }
        child.kill('SIGKILL');
      });
    };
    const timer = setTimeout(() => {
      timedOut = true;
      terminate();
    }, opts.timeoutMs);
    const onAbort = () => terminate();
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    child.on('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`cannot run lxc-attach: ${err.message}`));
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      resolve({
        exitCode: timedOut ? null : code,
        stdout: stdout.slice(0, MAX_OUTPUT),
        stderr: stderr.slice(0, MAX_OUTPUT),
        timedOut,
      });
    });
  });
}

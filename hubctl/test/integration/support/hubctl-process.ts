// Runs hubctl as a user does: its own process (bin.ts through tsx, workspace packages from
// source), exit code, stdout and stderr kept apart.
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { fileURLToPath, pathToFileURL } from 'node:url';

const BIN = fileURLToPath(new URL('../../../src/bin.ts', import.meta.url));
// By URL: hubctl runs in the test's scratch directory, where `--import tsx` would not resolve.
const TSX = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;

export interface HubctlRun {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** node's arguments to run hubctl with these arguments. */
export function hubctlArgv(args: readonly string[]): string[] {
  return ['--conditions=fleet-source', '--import', TSX, BIN, ...args];
}

export function hubctl(
  args: readonly string[],
  opts: { env: NodeJS.ProcessEnv; cwd?: string; input?: string },
): Promise<HubctlRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, hubctlArgv(args), {
      env: opts.env,
      ...(opts.cwd ? { cwd: opts.cwd } : {}),
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (b: Buffer) => (stdout += b.toString()));
    child.stderr.on('data', (b: Buffer) => (stderr += b.toString()));
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr }));
    child.stdin.end(opts.input ?? '');
  });
}

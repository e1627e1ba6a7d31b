import { execFile } from 'node:child_process';

export interface RunOptions {
  cwd?: string;
  env?: Record<string, string>;
  signal?: AbortSignal;
  input?: string;
}

/** Run a host tool; on failure the error names the command and carries its stderr. */
export function run(
  cmd: string,
  args: readonly string[],
  options: RunOptions = {},
): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      cmd,
      args,
      {
        cwd: options.cwd,
        env: { ...process.env, LC_ALL: 'C', ...options.env },
        signal: options.signal,
        maxBuffer: 64 * 1024 * 1024,
      },
      (error, stdout, stderr) => {
        if (error) {
          const code = (error as NodeJS.ErrnoException).code;
          const why =
            code === 'ENOENT'
              ? `${cmd} is not installed`
              : `${cmd} ${args.join(' ')} failed: ${stderr.trim() || error.message}`;
          reject(new Error(why, { cause: error }));
        } else resolve({ stdout, stderr });
      },
    );
    if (options.input !== undefined) child.stdin?.end(options.input);
  });
}

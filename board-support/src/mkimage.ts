import { execFile } from 'node:child_process';
import { promisify } from 'node:util';

const run = promisify(execFile);

/** Build a U-Boot script image; SOURCE_DATE_EPOCH fixes the header timestamp (reproducible). */
export async function mkimageScript(
  source: string,
  output: string,
  name: string,
  sourceDateEpoch: number,
): Promise<void> {
  await run(
    'mkimage',
    ['-A', 'arm64', '-O', 'linux', '-T', 'script', '-C', 'none', '-n', name, '-d', source, output],
    {
      env: { ...process.env, SOURCE_DATE_EPOCH: String(sourceDateEpoch) },
    },
  );
}

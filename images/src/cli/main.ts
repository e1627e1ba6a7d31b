import { imageBuild, BUILD_USAGE } from './commands/image-build.js';
import { imageFlash, FLASH_USAGE } from './commands/image-flash.js';
import { releaseRootfsCommand, RELEASE_ROOTFS_USAGE } from './commands/release-rootfs.js';
import type { TextSink } from './progress.js';
import { UsageError } from './usage-error.js';

export const USAGE = `fleet-image: build and flash fleet device images\n${BUILD_USAGE}\n${FLASH_USAGE}\n${RELEASE_ROOTFS_USAGE}`;

export interface CliOutcome {
  exitCode: number;
  stdout: string;
  stderr: string;
}

/** Dispatch a command; never exits the process (bin.ts does). 0 ok, 1 failed, 2 usage. */
export async function runFleetImage(
  argv: string[],
  signal: AbortSignal,
  stderr: TextSink = process.stderr,
): Promise<CliOutcome> {
  const [command, ...rest] = argv;
  try {
    if (command === 'build') return { exitCode: 0, stdout: await imageBuild(rest, signal), stderr: '' };
    if (command === 'release-rootfs')
      return { exitCode: 0, stdout: await releaseRootfsCommand(rest), stderr: '' };
    if (command === 'flash')
      return { exitCode: 0, stdout: await imageFlash(rest, signal, stderr), stderr: '' };
    throw new UsageError(command ? `unknown command ${command}\n${USAGE}` : USAGE);
  } catch (error) {
    if (error instanceof UsageError) return { exitCode: 2, stdout: '', stderr: `${error.message}\n` };
    if (error instanceof TypeError && 'code' in error && String(error.code).startsWith('ERR_PARSE_ARGS')) {
      return { exitCode: 2, stdout: '', stderr: `${error.message}\n${USAGE}\n` };
    }
    return { exitCode: 1, stdout: '', stderr: `fleet-image: ${(error as Error).message}\n` };
  }
}

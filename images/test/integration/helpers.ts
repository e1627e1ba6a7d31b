import { execFile } from 'node:child_process';
import { copyFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { fwEnvConfigFor, loadBoard } from '@fleet/board-support';
import type { BoardDefinition } from '@fleet/board-support';
import { UbootEnvBootControl, UbootEnvStore } from '@fleet/board-support/boot';
import type { Slot } from '@fleet/board-support/boot';
import { buildImage } from '../../src/builder/build-image.js';
import type { BuildOptions, BuildResult } from '../../src/builder/build-image.js';
import { defaultCacheDir } from '../../src/cache.js';

export const run = promisify(execFile);

export const HUB = 'http://10.0.2.2:8080';
export const TOKEN = 'claim-0123456789abcdef';

/** Build an image with the shared download cache (.fleet/cache), quietly. */
export async function build(
  board: string,
  outDir: string,
  extra: Partial<BuildOptions> = {},
): Promise<BuildResult> {
  return buildImage({
    board: await loadBoard(board),
    hubUrl: HUB,
    claimToken: TOKEN,
    outDir,
    cacheDir: defaultCacheDir(),
    agent: 'none',
    ...extra,
  });
}

/** Byte offset of a partition of the built image, from its manifest. */
export function partitionOffset(result: BuildResult, role: string): number {
  const part = result.manifest.partitions.find((p) => p.role === role);
  if (!part) throw new Error(`no ${role} partition`);
  return part.offset;
}

/** A sparse copy of the image, so each scenario starts from the factory state. */
export async function freshCopy(image: string, dest: string): Promise<string> {
  await run('cp', ['--sparse=always', image, dest]);
  return dest;
}

export { copyFile };

/** The agent's view of an emulated disk: the boot env in the image, the booted slot given. */
export function bootControlOn(
  board: BoardDefinition,
  disk: string,
  bootedSlot: () => Slot,
): { store: UbootEnvStore; control: UbootEnvBootControl } {
  const store = new UbootEnvStore(fwEnvConfigFor(board, disk));
  const control = new UbootEnvBootControl({
    store,
    slotTargets: { A: '/dev/null', B: '/dev/null' },
    bootedSlot: async () => bootedSlot(),
  });
  return { store, control };
}

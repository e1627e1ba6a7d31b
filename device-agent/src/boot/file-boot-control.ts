import { mkdir, open, readFile, rename } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { z } from 'zod';
import * as ab from './ab-state.js';
import { BootControlError } from './boot-control.js';
import type {
  BootControl,
  BootVerdict,
  CommitResult,
  InstallOptions,
  InstallResult,
  RollbackResult,
} from './boot-control.js';
import { writeAndVerify } from './install.js';
import { Slot } from './slot.js';

/** On-disk state of the `file` backend: the bootloader's env plus the slot the last simulated boot chose. */
export const FileBootState = z.object({
  spec: z.literal('fleet-file-boot@1'),
  env: z.record(z.string(), z.string()),
  bootedSlot: Slot,
  boots: z.number().int().nonnegative(),
});
export type FileBootState = z.infer<typeof FileBootState>;

export interface FileBootControlOptions {
  /** JSON state file standing in for the U-Boot environment (and for /proc/cmdline's slot). */
  statePath: string;
  /** Files standing in for the slot partitions. */
  slotTargets: Record<Slot, string>;
}

async function writeFileDurably(path: string, data: string): Promise<void> {
  // temp + fsync + rename + fsync(dir): the state is either the old or the new one after a crash.
  const tmp = `${path}.tmp`;
  const handle = await open(tmp, 'w');
  try {
    await handle.writeFile(data);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(tmp, path);
  const dir = await open(dirname(path), 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}

export interface SimulatedBoot {
  slot: Slot;
  /** Boots that failed (slot listed in `failingSlots`) before one reached userspace. */
  failedBoots: number;
}

/**
 * BootControl for tests and PCs: the same rules as U-Boot + boot.cmd, with a JSON state file
 * in place of the environment. `simulateBoot()` is the power-on: it runs the boot script's
 * logic, including bootcount and fallback. The agent process is restarted by the caller.
 */
export class FileBootControl implements BootControl {
  constructor(private readonly options: FileBootControlOptions) {}

  static initialState(bootlimit = ab.DEFAULT_BOOTLIMIT): FileBootState {
    return {
      spec: 'fleet-file-boot@1',
      env: ab.abStateToEnv({ bootSlot: 'A', upgradeAvailable: false, bootcount: 0, bootlimit }),
      bootedSlot: 'A',
      boots: 0,
    };
  }

  /** Create the state file if it does not exist yet (a fresh device booted from slot A). */
  async ensureInitialized(bootlimit = ab.DEFAULT_BOOTLIMIT): Promise<void> {
    await mkdir(dirname(this.options.statePath), { recursive: true });
    const existing = await readFile(this.options.statePath, 'utf8').catch((e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') return undefined;
      throw e;
    });
    if (existing === undefined) await this.writeState(FileBootControl.initialState(bootlimit));
  }

  async readState(): Promise<FileBootState> {
    let text: string;
    try {
      text = await readFile(this.options.statePath, 'utf8');
    } catch (error) {
      throw new BootControlError(
        'state-invalid',
        `cannot read boot state ${this.options.statePath}: ${(error as Error).message}`,
      );
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new BootControlError('state-invalid', `boot state ${this.options.statePath} is not JSON`);
    }
    const parsed = FileBootState.safeParse(json);
    if (!parsed.success) {
      throw new BootControlError(
        'state-invalid',
        `boot state ${this.options.statePath} is invalid: ${parsed.error.issues.map((i) => `$.${i.path.join('.')}: ${i.message}`).join('; ')}`,
      );
    }
    return parsed.data;
  }

  private writeState(state: FileBootState): Promise<void> {
    return writeFileDurably(this.options.statePath, `${JSON.stringify(state, null, 2)}\n`);
  }

  private async update(change: (ab: ab.AbState, booted: Slot) => ab.AbState): Promise<void> {
    const state = await this.readState();
    const next = change(ab.abStateFromEnv(state.env), state.bootedSlot);
    await this.writeState({ ...state, env: ab.abStateToEnv(next, state.env) });
  }

  /**
   * Power on. Each boot of a slot in `failingSlots` stands for a kernel that never reaches
   * userspace (the watchdog resets the board), so the script runs again, as on hardware.
   */
  async simulateBoot(
    options: { failingSlots?: readonly Slot[]; maxBoots?: number } = {},
  ): Promise<SimulatedBoot> {
    const failing = new Set(options.failingSlots ?? []);
    const maxBoots = options.maxBoots ?? 100;
    let state = await this.readState();
    let failedBoots = 0;
    for (;;) {
      const run = ab.runBootScript(ab.abStateFromEnv(state.env));
      state = {
        ...state,
        env: ab.abStateToEnv(run.state, state.env),
        bootedSlot: run.slot,
        boots: state.boots + 1,
      };
      // The script saves the env before booting the kernel: persist before "booting".
      await this.writeState(state);
      if (!failing.has(run.slot)) return { slot: run.slot, failedBoots };
      failedBoots += 1;
      if (failedBoots >= maxBoots) {
        throw new BootControlError(
          'state-invalid',
          `no slot reached userspace in ${maxBoots} boots (both slots failing)`,
        );
      }
    }
  }

  async activeSlot(): Promise<Slot> {
    return (await this.readState()).bootedSlot;
  }

  async install(source: string | Readable, slot: Slot, options?: InstallOptions): Promise<InstallResult> {
    const state = await this.readState();
    ab.assertInstallable(ab.abStateFromEnv(state.env), state.bootedSlot, slot);
    const target = this.options.slotTargets[slot];
    await mkdir(dirname(target), { recursive: true });
    const written = await writeAndVerify(source, target, options);
    return { slot, target, ...written };
  }

  async armTryBoot(slot: Slot): Promise<void> {
    await this.update((s, booted) => ab.armTryBoot(s, booted, slot));
  }

  async verifyBoot(): Promise<BootVerdict> {
    const state = await this.readState();
    return ab.verdictOf(ab.abStateFromEnv(state.env), state.bootedSlot);
  }

  async commit(): Promise<CommitResult> {
    let result: CommitResult | undefined;
    await this.update((s, booted) => {
      const out = ab.commit(s, booted);
      result = out.result;
      return out.state;
    });
    if (!result) throw new BootControlError('state-invalid', 'commit produced no result');
    return result;
  }

  async rollback(): Promise<RollbackResult> {
    let result: RollbackResult | undefined;
    await this.update((s, booted) => {
      const out = ab.rollback(s, booted);
      result = out.result;
      return out.state;
    });
    if (!result) throw new BootControlError('state-invalid', 'rollback produced no result');
    return result;
  }
}

export function defaultFileBootPaths(root: string): FileBootControlOptions {
  return {
    statePath: join(root, 'boot-state.json'),
    slotTargets: { A: join(root, 'slot-a.img'), B: join(root, 'slot-b.img') },
  };
}

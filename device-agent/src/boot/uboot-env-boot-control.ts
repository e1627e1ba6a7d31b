import { readFile } from 'node:fs/promises';
import type { Readable } from 'node:stream';
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
import type { UbootEnvStore } from './uboot-env-store.js';

/** The kernel command line parameter the boot script sets to the slot it booted. */
export const SLOT_CMDLINE_PARAM = 'fleet.slot';

export function slotFromCmdline(cmdline: string): Slot | undefined {
  for (const arg of cmdline.trim().split(/\s+/)) {
    if (arg.startsWith(`${SLOT_CMDLINE_PARAM}=`)) {
      const parsed = Slot.safeParse(arg.slice(SLOT_CMDLINE_PARAM.length + 1));
      if (parsed.success) return parsed.data;
    }
  }
  return undefined;
}

export interface UbootEnvBootControlOptions {
  store: UbootEnvStore;
  /** Where each slot's root filesystem is written (partition device, or a file in tests). */
  slotTargets: Record<Slot, string>;
  /** Which slot is running. Default: `fleet.slot=` on /proc/cmdline, set by boot.cmd. */
  bootedSlot?: () => Promise<Slot>;
}

export async function bootedSlotFromProcCmdline(path = '/proc/cmdline'): Promise<Slot> {
  const slot = slotFromCmdline(await readFile(path, 'utf8'));
  if (!slot) {
    throw new BootControlError(
      'state-invalid',
      `${path} has no ${SLOT_CMDLINE_PARAM}=A|B: not booted by the fleet boot script`,
    );
  }
  return slot;
}

/** BootControl on the U-Boot environment the board's boot.cmd reads and writes. */
export class UbootEnvBootControl implements BootControl {
  private readonly booted: () => Promise<Slot>;

  constructor(private readonly options: UbootEnvBootControlOptions) {
    this.booted = options.bootedSlot ?? (() => bootedSlotFromProcCmdline());
  }

  private async state(): Promise<ab.AbState> {
    return ab.abStateFromEnv((await this.options.store.read()).vars);
  }

  private async save(next: ab.AbState): Promise<void> {
    await this.options.store.update((vars) => ab.abStateToEnv(next, vars));
  }

  activeSlot(): Promise<Slot> {
    return this.booted();
  }

  async install(source: string | Readable, slot: Slot, options?: InstallOptions): Promise<InstallResult> {
    ab.assertInstallable(await this.state(), await this.booted(), slot);
    const target = this.options.slotTargets[slot];
    const written = await writeAndVerify(source, target, options);
    return { slot, target, ...written };
  }

  async armTryBoot(slot: Slot): Promise<void> {
    await this.save(ab.armTryBoot(await this.state(), await this.booted(), slot));
  }

  async verifyBoot(): Promise<BootVerdict> {
    return ab.verdictOf(await this.state(), await this.booted());
  }

  async commit(): Promise<CommitResult> {
    const { state, result } = ab.commit(await this.state(), await this.booted());
    if (result.changed) await this.save(state);
    return result;
  }

  async rollback(): Promise<RollbackResult> {
    const { state, result } = ab.rollback(await this.state(), await this.booted());
    await this.save(state);
    return result;
  }
}

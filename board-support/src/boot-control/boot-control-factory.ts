import { join } from 'node:path';
import {
  FileBootControl,
  UbootEnvBootControl,
  UbootEnvStore,
  bootedSlotFromProcCmdline,
} from '../boot-backends.js';
import type { BootControl, FwEnvConfig } from '../boot-backends.js';
import type { BoardDefinition } from '../board-definition.js';
import { partitionDevice } from '../board-definition.js';

/** fw_env.config contents for a board: both env copies on the whole-disk device. */
export function fwEnvConfigFor(board: BoardDefinition, device = board.disk.device): FwEnvConfig {
  const { envSize, offsets } = board.bootState;
  return { copies: offsets.map((offset) => ({ device, offset, size: envSize })) };
}

export interface BootControlWiring {
  backend: 'uboot-env' | 'file';
  board: BoardDefinition;
  /** uboot-env: an fw_env.config to use instead of the board's own disk layout. */
  fwEnvConfig?: FwEnvConfig;
  /** uboot-env: where the booted slot is read from (default /proc/cmdline). */
  cmdlinePath?: string;
  /** file: directory holding boot-state.json and the slot files. */
  stateDir?: string;
  /** Override slot targets (tests, or a board whose partitions are named differently). */
  slotTargets?: { A: string; B: string };
}

/** Compose the BootControl a board uses (CONVENTIONS 8: built here, passed in). */
export async function createBootControl(
  wiring: BootControlWiring,
): Promise<{ control: BootControl; file?: FileBootControl }> {
  if (wiring.backend === 'file') {
    const dir = wiring.stateDir;
    if (!dir) throw new Error('the file backend needs --state <dir>');
    const file = new FileBootControl({
      statePath: join(dir, 'boot-state.json'),
      slotTargets: wiring.slotTargets ?? { A: join(dir, 'slot-a.img'), B: join(dir, 'slot-b.img') },
    });
    await file.ensureInitialized(wiring.board.bootState.bootlimit);
    return { control: file, file };
  }
  const store = new UbootEnvStore(wiring.fwEnvConfig ?? fwEnvConfigFor(wiring.board));
  const cmdline = wiring.cmdlinePath ?? '/proc/cmdline';
  const control = new UbootEnvBootControl({
    store,
    slotTargets: wiring.slotTargets ?? {
      A: partitionDevice(wiring.board, 'rootfs-a'),
      B: partitionDevice(wiring.board, 'rootfs-b'),
    },
    bootedSlot: () => bootedSlotFromProcCmdline(cmdline),
  });
  return { control };
}

import type { Readable } from 'node:stream';
import type { Slot } from './slot.js';

/** What the bootloader did on the boot we are running, read once after boot. */
export interface BootVerdict {
  /** The slot the running system was booted from. */
  bootedSlot: Slot;
  /** The slot that was on trial (armed with `armTryBoot`), when there was one. */
  triedSlot?: Slot;
  /** True when the tried slot exceeded `bootlimit` and the bootloader went back to the other slot. */
  fellBack: boolean;
  /** Boots counted by the boot script while `upgrade_available=1`. */
  bootcount: number;
  /** A slot armed for the next boot but not booted yet (armed, reboot pending). */
  armedSlot?: Slot;
}

export interface InstallOptions {
  /** Expected `sha256:<hex>` (or bare hex) of the image; checked while writing and on read-back. */
  expectedDigest?: string;
  signal?: AbortSignal;
  onProgress?: (written: number, total: number | undefined) => void;
}

export interface InstallResult {
  slot: Slot;
  target: string;
  bytes: number;
  /** `sha256:<hex>` of what was written, equal to what was read back. */
  digest: string;
}

export interface CommitResult {
  slot: Slot;
  /** False when there was nothing on trial (idempotent: a repeated commit after a crash). */
  changed: boolean;
}

export interface RollbackResult {
  /** The slot the bootloader will boot next. */
  nextSlot: Slot;
  /** True when a reboot is needed to get there (false when an armed try-boot was just cancelled). */
  rebootRequired: boolean;
}

/**
 * The agent's port to the board's boot state (ARCHITECTURE "boot-control contract").
 * Semantics are those of the U-Boot boot script in board-support: `boot_slot`,
 * `upgrade_available`, `bootcount`, `bootlimit`, `fallback_from`.
 */
export interface BootControl {
  activeSlot(): Promise<Slot>;
  /** Stream an image into the inactive slot, fsync, read it back and compare digests. */
  install(source: string | Readable, slot: Slot, options?: InstallOptions): Promise<InstallResult>;
  /** Make the next boot (only) try `slot`; the bootloader falls back after `bootlimit` failed boots. */
  armTryBoot(slot: Slot): Promise<void>;
  verifyBoot(): Promise<BootVerdict>;
  /** Accept the running slot: no further fallback. */
  commit(): Promise<CommitResult>;
  /** Give up the slot on trial (or cancel an armed try-boot). */
  rollback(): Promise<RollbackResult>;
}

export class BootControlError extends Error {
  override readonly name = 'BootControlError';
  constructor(
    readonly code:
      | 'env-invalid'
      | 'env-too-large'
      | 'config-invalid'
      | 'slot-busy'
      | 'nothing-to-roll-back'
      | 'not-booted'
      | 'install-failed'
      | 'verify-failed'
      | 'too-large'
      | 'state-invalid',
    message: string,
  ) {
    super(message);
  }
}

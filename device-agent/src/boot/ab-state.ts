import { BootControlError } from './boot-control.js';
import type { BootVerdict, CommitResult, RollbackResult } from './boot-control.js';
import type { EnvVars } from './uboot-env-codec.js';
import { Slot, otherSlot } from './slot.js';

/**
 * The A/B boot state and its rules, shared by every BootControl backend and mirrored line by
 * line by `board-support/boot/boot.cmd`. Variable names and encodings are persisted API.
 *
 * Numbers are hexadecimal without prefix: U-Boot's `setexpr` writes them that way and `itest`
 * reads them that way, so the script and this code agree for every count (not just 0..9).
 */
export interface AbState {
  bootSlot: Slot;
  upgradeAvailable: boolean;
  bootcount: number;
  bootlimit: number;
  /** Set by the boot script (or `rollback`) to the slot it gave up on. */
  fallbackFrom?: Slot;
}

export const DEFAULT_BOOTLIMIT = 3;

export const AB_VARS = ['boot_slot', 'upgrade_available', 'bootcount', 'bootlimit', 'fallback_from'] as const;

function parseHex(value: string | undefined, name: string, fallback: number): number {
  if (value === undefined || value === '') return fallback;
  const text = value.replace(/^0x/i, '');
  if (!/^[0-9a-f]+$/i.test(text)) {
    throw new BootControlError(
      'state-invalid',
      `${name}=${JSON.stringify(value)} is not a hexadecimal number`,
    );
  }
  return Number.parseInt(text, 16);
}

/** Read the A/B variables; missing ones take the boot script's defaults. */
export function abStateFromEnv(env: EnvVars): AbState {
  const slot = Slot.safeParse(env.boot_slot ?? 'A');
  if (!slot.success) {
    throw new BootControlError(
      'state-invalid',
      `boot_slot=${JSON.stringify(env.boot_slot)} is neither A nor B`,
    );
  }
  const fallback = env.fallback_from;
  const fallbackSlot = fallback === undefined || fallback === '' ? undefined : Slot.safeParse(fallback);
  if (fallbackSlot && !fallbackSlot.success) {
    throw new BootControlError(
      'state-invalid',
      `fallback_from=${JSON.stringify(fallback)} is neither A nor B`,
    );
  }
  const ua = env.upgrade_available ?? '0';
  if (ua !== '0' && ua !== '1' && ua !== '') {
    throw new BootControlError('state-invalid', `upgrade_available=${JSON.stringify(ua)} is neither 0 nor 1`);
  }
  return {
    bootSlot: slot.data,
    upgradeAvailable: ua === '1',
    bootcount: parseHex(env.bootcount, 'bootcount', 0),
    bootlimit: parseHex(env.bootlimit, 'bootlimit', DEFAULT_BOOTLIMIT),
    ...(fallbackSlot?.success ? { fallbackFrom: fallbackSlot.data } : {}),
  };
}

/** The env entries for a state; other variables in the env are kept by the callers. */
export function abStateToEnv(state: AbState, env: EnvVars = {}): EnvVars {
  const out: EnvVars = { ...env };
  out.boot_slot = state.bootSlot;
  out.upgrade_available = state.upgradeAvailable ? '1' : '0';
  out.bootcount = state.bootcount.toString(16);
  out.bootlimit = state.bootlimit.toString(16);
  if (state.fallbackFrom) out.fallback_from = state.fallbackFrom;
  else delete out.fallback_from;
  return out;
}

/**
 * What boot.cmd does at every power-on, as a pure function: count a trial boot and give up
 * on the slot once the count passes the limit. Returns the slot it boots and the state it
 * saves. The `file` backend runs this in `simulateBoot()`; a test keeps it equal to boot.cmd.
 */
export function runBootScript(state: AbState): { slot: Slot; state: AbState } {
  if (!state.upgradeAvailable) return { slot: state.bootSlot, state };
  const bootcount = state.bootcount + 1;
  if (bootcount > state.bootlimit) {
    const slot = otherSlot(state.bootSlot);
    // bootcount is kept so verifyBoot can report how many boots the failed slot had.
    return {
      slot,
      state: { ...state, bootSlot: slot, upgradeAvailable: false, bootcount, fallbackFrom: state.bootSlot },
    };
  }
  return { slot: state.bootSlot, state: { ...state, bootcount } };
}

export function verdictOf(state: AbState, bootedSlot: Slot): BootVerdict {
  if (state.upgradeAvailable) {
    if (state.bootSlot === bootedSlot) {
      return { bootedSlot, triedSlot: bootedSlot, fellBack: false, bootcount: state.bootcount };
    }
    return { bootedSlot, fellBack: false, bootcount: state.bootcount, armedSlot: state.bootSlot };
  }
  if (state.fallbackFrom && state.fallbackFrom !== bootedSlot) {
    return { bootedSlot, triedSlot: state.fallbackFrom, fellBack: true, bootcount: state.bootcount };
  }
  return { bootedSlot, fellBack: false, bootcount: state.bootcount };
}

/** Arm `slot` for the next boot. Refused while a trial is undecided or for the running slot. */
export function armTryBoot(state: AbState, bootedSlot: Slot, slot: Slot): AbState {
  if (slot === bootedSlot) {
    throw new BootControlError('slot-busy', `cannot try-boot slot ${slot}: it is the running slot`);
  }
  if (state.upgradeAvailable && state.bootSlot === bootedSlot) {
    throw new BootControlError(
      'slot-busy',
      `slot ${bootedSlot} is itself on trial: commit or roll back first`,
    );
  }
  const { fallbackFrom: _dropped, ...rest } = state;
  return { ...rest, bootSlot: slot, upgradeAvailable: true, bootcount: 0 };
}

/** Accept the running slot. Idempotent, so a commit repeated after a power cut is harmless. */
export function commit(state: AbState, bootedSlot: Slot): { state: AbState; result: CommitResult } {
  if (state.bootSlot !== bootedSlot) {
    // Armed (or rolled back) but not rebooted: committing now would undo that decision.
    throw new BootControlError(
      'not-booted',
      `slot ${state.bootSlot} is selected for the next boot but the running slot is ${bootedSlot}: reboot first`,
    );
  }
  const changed = state.upgradeAvailable || state.fallbackFrom !== undefined || state.bootcount !== 0;
  const { fallbackFrom: _dropped, ...rest } = state;
  return {
    state: { ...rest, bootSlot: bootedSlot, upgradeAvailable: false, bootcount: 0 },
    result: { slot: bootedSlot, changed },
  };
}

export function rollback(state: AbState, bootedSlot: Slot): { state: AbState; result: RollbackResult } {
  if (!state.upgradeAvailable) {
    throw new BootControlError(
      'nothing-to-roll-back',
      `nothing to roll back: slot ${bootedSlot} is committed`,
    );
  }
  if (state.bootSlot !== bootedSlot) {
    // Armed but not booted yet: cancelling the arm is enough, the running slot stays.
    const { fallbackFrom: _dropped, ...rest } = state;
    return {
      state: { ...rest, bootSlot: bootedSlot, upgradeAvailable: false, bootcount: 0 },
      result: { nextSlot: bootedSlot, rebootRequired: false },
    };
  }
  const nextSlot = otherSlot(bootedSlot);
  return {
    state: { ...state, bootSlot: nextSlot, upgradeAvailable: false, fallbackFrom: bootedSlot },
    result: { nextSlot, rebootRequired: true },
  };
}

/** Writing a slot is allowed only when neither the running nor the next boot depends on it. */
export function assertInstallable(state: AbState, bootedSlot: Slot, slot: Slot): void {
  if (slot === bootedSlot) {
    throw new BootControlError('slot-busy', `cannot install into slot ${slot}: it is the running slot`);
  }
  if (state.upgradeAvailable && state.bootSlot === bootedSlot) {
    throw new BootControlError(
      'slot-busy',
      `cannot install into slot ${slot}: it is the fallback of slot ${bootedSlot} on trial; commit first`,
    );
  }
  if (state.upgradeAvailable && state.bootSlot === slot) {
    throw new BootControlError(
      'slot-busy',
      `cannot install into slot ${slot}: it is armed for the next boot; roll back the arm first`,
    );
  }
}

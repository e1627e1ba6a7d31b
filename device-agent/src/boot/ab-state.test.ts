import { describe, expect, it } from 'vitest';
import * as ab from './ab-state.js';
import type { AbState } from './ab-state.js';

const committedA: AbState = { bootSlot: 'A', upgradeAvailable: false, bootcount: 0, bootlimit: 3 };

describe('A/B state in the U-Boot environment', () => {
  it('reads defaults from an empty env and writes hex numbers', () => {
    expect(ab.abStateFromEnv({})).toEqual(committedA);
    expect(ab.abStateToEnv({ ...committedA, bootcount: 10, bootlimit: 12 }, { other: 'kept' })).toEqual({
      other: 'kept',
      boot_slot: 'A',
      upgrade_available: '0',
      bootcount: 'a',
      bootlimit: 'c',
    });
    expect(ab.abStateFromEnv({ bootcount: 'a', bootlimit: '0xc' })).toMatchObject({
      bootcount: 10,
      bootlimit: 12,
    });
  });

  it.each([
    [{ boot_slot: 'C' }, 'boot_slot="C" is neither A nor B'],
    [{ upgrade_available: 'yes' }, 'upgrade_available="yes" is neither 0 nor 1'],
    [{ bootcount: '-1' }, 'bootcount="-1" is not a hexadecimal number'],
    [{ fallback_from: 'X' }, 'fallback_from="X" is neither A nor B'],
  ])('rejects %j', (env, message) => {
    expect(() => ab.abStateFromEnv(env)).toThrow(message);
  });
});

describe('boot script semantics', () => {
  it('boots the committed slot without counting', () => {
    expect(ab.runBootScript(committedA)).toEqual({ slot: 'A', state: committedA });
  });

  it('counts trial boots and falls back once bootcount exceeds bootlimit', () => {
    let state = ab.armTryBoot(committedA, 'A', 'B');
    const slots: string[] = [];
    for (let i = 0; i < 5; i++) {
      const run = ab.runBootScript(state);
      slots.push(run.slot);
      state = run.state;
    }
    expect(slots).toEqual(['B', 'B', 'B', 'A', 'A']);
    expect(state).toEqual({
      bootSlot: 'A',
      upgradeAvailable: false,
      bootcount: 4,
      bootlimit: 3,
      fallbackFrom: 'B',
    });
    expect(ab.verdictOf(state, 'A')).toEqual({
      bootedSlot: 'A',
      triedSlot: 'B',
      fellBack: true,
      bootcount: 4,
    });
  });
});

describe('transitions', () => {
  it('arm, boot, verify, commit', () => {
    const armed = ab.armTryBoot(committedA, 'A', 'B');
    expect(ab.verdictOf(armed, 'A')).toEqual({
      bootedSlot: 'A',
      fellBack: false,
      bootcount: 0,
      armedSlot: 'B',
    });
    const booted = ab.runBootScript(armed);
    expect(ab.verdictOf(booted.state, 'B')).toEqual({
      bootedSlot: 'B',
      triedSlot: 'B',
      fellBack: false,
      bootcount: 1,
    });
    const { state, result } = ab.commit(booted.state, 'B');
    expect(result).toEqual({ slot: 'B', changed: true });
    expect(state).toEqual({ bootSlot: 'B', upgradeAvailable: false, bootcount: 0, bootlimit: 3 });
    expect(ab.commit(state, 'B').result.changed).toBe(false);
  });

  it('rollback during a trial selects the other slot and records why', () => {
    const onTrial = ab.runBootScript(ab.armTryBoot(committedA, 'A', 'B')).state;
    const { state, result } = ab.rollback(onTrial, 'B');
    expect(result).toEqual({ nextSlot: 'A', rebootRequired: true });
    expect(ab.runBootScript(state).slot).toBe('A');
    expect(ab.verdictOf(state, 'A')).toMatchObject({ triedSlot: 'B', fellBack: true });
    // After the rollback is decided, committing B (not rebooted yet) would undo it.
    expect(() => ab.commit(state, 'B')).toThrow(
      'slot A is selected for the next boot but the running slot is B: reboot first',
    );
  });

  it('rollback before the reboot cancels the arm without a reboot', () => {
    const { state, result } = ab.rollback(ab.armTryBoot(committedA, 'A', 'B'), 'A');
    expect(result).toEqual({ nextSlot: 'A', rebootRequired: false });
    expect(state).toEqual(committedA);
  });

  it('refuses what would break the fallback', () => {
    const armed = ab.armTryBoot(committedA, 'A', 'B');
    const onTrial = ab.runBootScript(armed).state;
    expect(() => ab.armTryBoot(committedA, 'A', 'A')).toThrow(
      'cannot try-boot slot A: it is the running slot',
    );
    expect(() => ab.armTryBoot(onTrial, 'B', 'A')).toThrow(
      'slot B is itself on trial: commit or roll back first',
    );
    expect(() => ab.rollback(committedA, 'A')).toThrow('nothing to roll back: slot A is committed');
    expect(() => ab.commit(armed, 'A')).toThrow('reboot first');
    expect(() => ab.assertInstallable(committedA, 'A', 'A')).toThrow('it is the running slot');
    expect(() => ab.assertInstallable(onTrial, 'B', 'A')).toThrow(
      'it is the fallback of slot B on trial; commit first',
    );
    expect(() => ab.assertInstallable(armed, 'A', 'B')).toThrow('it is armed for the next boot');
    expect(() => ab.assertInstallable(committedA, 'A', 'B')).not.toThrow();
  });
});

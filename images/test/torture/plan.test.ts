import { describe, expect, it } from 'vitest';
import { CUT_PHASES, parseTortureOptions, planCuts, seededRandom, TortureOptionError } from './plan.js';

describe('parseTortureOptions', () => {
  it('defaults to 6 updates, 4 cuts over every phase', () => {
    expect(parseTortureOptions({}, () => 42)).toEqual({
      updates: 6,
      cuts: 4,
      seed: 42,
      phases: [...CUT_PHASES],
      updateTimeoutMs: 2_700_000,
      bootTimeoutMs: 1_800_000,
      keep: false,
      dataMiB: undefined,
    });
  });

  it('reads the environment', () => {
    const o = parseTortureOptions({
      TORTURE_UPDATES: '8',
      TORTURE_CUTS: '0',
      TORTURE_SEED: '7',
      TORTURE_PHASES: ' commit , download,commit',
      TORTURE_UPDATE_TIMEOUT_S: '60',
      TORTURE_BOOT_TIMEOUT_S: '30',
      TORTURE_KEEP: '1',
      TORTURE_DATA_MIB: '2048',
    });
    expect(o).toMatchObject({
      updates: 8,
      cuts: 0,
      seed: 7,
      phases: ['commit', 'download'],
    });
    expect(o.updateTimeoutMs).toBe(60_000);
    expect(o.bootTimeoutMs).toBe(30_000);
    expect(o.keep).toBe(true);
    expect(o.dataMiB).toBe(2048);
  });

  it.each([
    [{ TORTURE_UPDATES: '0' }, 'TORTURE_UPDATES must be an integer >= 1, got "0"'],
    [{ TORTURE_UPDATES: '2.5' }, 'TORTURE_UPDATES must be an integer >= 1, got "2.5"'],
    [{ TORTURE_CUTS: '-1' }, 'TORTURE_CUTS must be an integer >= 0, got "-1"'],
    [{ TORTURE_CUTS: 'many' }, 'TORTURE_CUTS must be an integer >= 0, got "many"'],
    [{ TORTURE_SEED: '0x10' }, 'TORTURE_SEED must be an integer >= 0, got "0x10"'],
    [{ TORTURE_UPDATE_TIMEOUT_S: '0' }, 'TORTURE_UPDATE_TIMEOUT_S must be an integer >= 1, got "0"'],
    [
      { TORTURE_PHASES: 'download,reboot' },
      'TORTURE_PHASES: unknown phase "reboot" (known: download, slot-write, first-boot, commit)',
    ],
    [{ TORTURE_PHASES: ' , ' }, 'TORTURE_PHASES lists none of download, slot-write, first-boot, commit'],
    [{ TORTURE_DATA_MIB: '1.5G' }, 'TORTURE_DATA_MIB must be an integer >= 1, got "1.5G"'],
  ])('refuses %j', (env, message) => {
    expect(() => parseTortureOptions(env)).toThrow(new TortureOptionError(message));
  });
});

describe('planCuts', () => {
  it('is reproducible from the seed', () => {
    expect(planCuts(6, 4, CUT_PHASES, seededRandom(3))).toEqual(planCuts(6, 4, CUT_PHASES, seededRandom(3)));
  });

  it('covers every phase once before repeating one, each update in phase order', () => {
    for (let seed = 0; seed < 50; seed++) {
      const plan = planCuts(6, 4, CUT_PHASES, seededRandom(seed));
      expect(plan).toHaveLength(6);
      const phases = plan.flat().map((c) => c.phase);
      expect([...phases].sort()).toEqual([...CUT_PHASES].sort());
      for (const cuts of plan) {
        const order = cuts.map((c) => CUT_PHASES.indexOf(c.phase));
        expect(order).toEqual([...order].sort((a, b) => a - b));
        for (const c of cuts) expect(c.at).toBeGreaterThanOrEqual(0);
      }
    }
  });

  it('keeps first-boot and commit cuts out of an update whose slot write is cut, when it can', () => {
    for (let seed = 0; seed < 50; seed++) {
      for (const cuts of planCuts(6, 5, CUT_PHASES, seededRandom(seed))) {
        const phases = cuts.map((c) => c.phase);
        if (phases.includes('slot-write')) {
          expect(phases).not.toContain('first-boot');
          expect(phases).not.toContain('commit');
        }
      }
    }
  });

  it('puts every cut somewhere even when no update fits (one update)', () => {
    expect(planCuts(1, 5, CUT_PHASES, seededRandom(1)).flat()).toHaveLength(5);
  });

  it('plans nothing for zero cuts', () => {
    expect(planCuts(3, 0, CUT_PHASES, seededRandom(1))).toEqual([[], [], []]);
  });

  it.each([
    [0, 1, 'planCuts: updates must be >= 1'],
    [1, -1, 'planCuts: cuts must be >= 0'],
  ])('refuses updates=%i cuts=%i', (updates, cuts, message) => {
    expect(() => planCuts(updates, cuts, CUT_PHASES, seededRandom(1))).toThrow(message);
  });

  it('refuses an empty phase list', () => {
    expect(() => planCuts(1, 1, [], seededRandom(1))).toThrow('planCuts: no phases');
  });
});

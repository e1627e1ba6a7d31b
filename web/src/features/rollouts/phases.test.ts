import { describe, expect, it } from 'vitest';
import { toCreateInput, type WizardDraft } from './components/rollout-wizard.js';
import { describePhase, parsePhases } from './phases.js';

describe('parsePhases', () => {
  it('reads counts and cumulative percents', () => {
    expect(parsePhases('1, 10%,50%,100%', 600)).toEqual({
      ok: true,
      phases: [
        { count: 1, bakeSeconds: 600 },
        { percent: 10, bakeSeconds: 600 },
        { percent: 50, bakeSeconds: 600 },
        { percent: 100, bakeSeconds: 600 },
      ],
    });
  });

  it.each([
    ['', 'give at least one phase'],
    ['10%,5%,100%', 'phase 2: 5% must be above the previous 10%'],
    ['1,50%', 'the last phase must be 100%'],
    ['1,abc,100%', 'phase 2: "abc" is neither a device count nor a percent'],
    ['0,100%', 'phase 1: "0" is neither'],
    ['150%', 'phase 1: 150% is not between 1% and 100%'],
  ])('refuses %j', (text, error) => {
    const r = parsePhases(text, 0);
    expect(r.ok).toBe(false);
    expect(r.ok ? '' : r.error).toContain(error);
  });

  it('describes phases for people', () => {
    expect(describePhase({ count: 1 })).toBe('1 device');
    expect(describePhase({ count: 5, percent: null })).toBe('5 devices');
    expect(describePhase({ percent: 10, count: null })).toBe('10%');
  });
});

describe('toCreateInput', () => {
  const draft: WizardDraft = {
    release: '1.1.0',
    fleetId: '00000000-0000-4000-8000-000000000001',
    tags: ['canary'],
    deviceIds: '',
    phases: '1,100%',
    bakeMinutes: 10,
    maxFailurePercent: 5,
    minSuccessPercent: 95,
    deadlineMinutes: 30,
    maxParallelDownloads: 20,
    deviceBakeSeconds: 30,
    force: false,
  };

  it('builds the hub body with seconds', () => {
    const r = toCreateInput(draft);
    expect(r).toEqual({
      ok: true,
      input: {
        release: '1.1.0',
        fleet: draft.fleetId,
        tags: ['canary'],
        deviceIds: [],
        phases: [
          { count: 1, bakeSeconds: 600 },
          { percent: 100, bakeSeconds: 600 },
        ],
        maxFailurePercent: 5,
        minSuccessPercent: 95,
        deviceTimeoutSeconds: 1800,
        maxParallel: 20,
        deviceBakeSeconds: 30,
        force: false,
      },
    });
  });

  it.each<[Partial<WizardDraft>, string]>([
    [{ release: '' }, 'choose a release'],
    [{ fleetId: '' }, 'choose a fleet'],
    [{ deviceIds: 'abc' }, '"abc" is not a device id'],
    [{ maxFailurePercent: 101 }, 'failure threshold'],
    [{ deadlineMinutes: 0 }, 'deadline'],
    [{ maxParallelDownloads: 1.5 }, 'parallel downloads'],
    [{ bakeMinutes: Number.NaN }, 'bake time'],
    [{ deviceBakeSeconds: -1 }, 'health gate'],
  ])('refuses %j', (over, error) => {
    const r = toCreateInput({ ...draft, ...over });
    expect(r.ok ? '' : r.error).toContain(error);
  });
});

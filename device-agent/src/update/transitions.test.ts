import { UpdateState } from '@fleet/protocol';
import { describe, expect, it } from 'vitest';
import {
  MAX_RESUMES,
  nextState,
  ON_RESUME_LIMIT,
  RESUME,
  SUPERSEDABLE,
  terminalStatus,
  TRANSITIONS,
} from './transitions.js';

const states = UpdateState.options;
const edges = states.flatMap((s) =>
  Object.entries(TRANSITIONS[s] as Record<string, string>).map(([e, to]) => [s, e, to] as const),
);

describe('transition table', () => {
  it.each(edges)('%s --%s--> %s', (from, event, to) => {
    expect(nextState(from, event as never)).toBe(to);
  });

  it('has a row for every protocol UpdateState and no other', () => {
    expect(Object.keys(TRANSITIONS).sort()).toEqual([...states].sort());
  });

  it('refuses an event a state does not have', () => {
    expect(() => nextState('committing', 'superseded' as never)).toThrow(
      'no transition from committing on superseded',
    );
  });

  it('every state is reachable from idle and reaches idle', () => {
    const reach = (from: string, rev = false) => {
      const seen = new Set([from]);
      const todo = [from];
      while (todo.length) {
        const s = todo.pop() as string;
        for (const [a, , b] of edges) {
          const [x, y] = rev ? [b, a] : [a, b];
          if (x === s && !seen.has(y)) {
            seen.add(y);
            todo.push(y);
          }
        }
      }
      return seen;
    };
    expect([...reach('idle')].sort()).toEqual([...states].sort());
    expect([...reach('idle', true)].sort()).toEqual([...states].sort());
  });

  it('a state that touched the device never goes straight to idle: it commits or rolls back', () => {
    for (const s of ['installing', 'rebooting', 'testing', 'rollback-rebooting'] as const) {
      expect(Object.values(TRANSITIONS[s])).not.toContain('idle');
    }
  });

  it('a newer target may supersede only states that changed nothing', () => {
    expect([...SUPERSEDABLE].sort()).toEqual(['downloading', 'verifying', 'waiting']);
    for (const s of SUPERSEDABLE) expect(TRANSITIONS[s]).toHaveProperty('superseded', 'idle');
    for (const s of states.filter((x) => !SUPERSEDABLE.has(x)))
      expect(TRANSITIONS[s]).not.toHaveProperty('superseded');
  });
});

describe('resume after a restart', () => {
  it.each([
    ['idle', 'idle'],
    ['downloading', 'downloading'],
    ['verifying', 'verifying'],
    ['waiting', 'waiting'],
    ['installing', 'rolling-back'],
    ['rebooting', 'rebooting'],
    ['testing', 'testing'],
    ['committing', 'committing'],
    ['rolling-back', 'rolling-back'],
    ['rollback-rebooting', 'rollback-rebooting'],
  ] as const)('a crash in %s resumes in %s', (crashed, resumed) => {
    expect(RESUME[crashed]).toBe(resumed);
  });

  it.each([
    ['downloading', 'idle'],
    ['verifying', 'idle'],
    ['waiting', 'idle'],
    ['installing', 'rolling-back'],
    ['rebooting', 'rolling-back'],
    ['testing', 'rolling-back'],
    ['committing', 'rolling-back'],
    ['rolling-back', 'idle'],
    ['rollback-rebooting', 'idle'],
  ] as const)(`more than ${MAX_RESUMES} resumes of %s go to %s`, (state, to) => {
    expect(ON_RESUME_LIMIT[state]).toBe(to);
  });

  it('every resume comment exists: each state is mapped (the table is total)', () => {
    for (const s of states) {
      expect(states).toContain(RESUME[s]);
      expect(states).toContain(ON_RESUME_LIMIT[s]);
    }
  });
});

describe('terminal status', () => {
  it.each([
    ['committing', 'committed', 'succeeded'],
    ['rolling-back', 'rolled-back', 'rolled-back'],
    ['rolling-back', 'failed', 'failed'],
    ['verifying', 'refused', 'failed'],
    ['downloading', 'failed', 'failed'],
    ['waiting', 'superseded', 'failed'],
  ] as const)('%s --%s--> idle reports %s', (from, event, status) => {
    expect(terminalStatus(from, event)).toBe(status);
  });
});

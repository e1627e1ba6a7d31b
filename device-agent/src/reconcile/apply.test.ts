import { describe, expect, it } from 'vitest';
import { aContainer, aRevision } from '../update/testing/builders.js';
import { apply, StepFailed } from './apply.js';
import { plan } from './plan.js';
import type { Executors, Step } from './steps.js';

function recorder(failOn?: string) {
  const log: string[] = [];
  const rec = (s: Step) => {
    const label = s.action === 'wait-goals' ? `wait-goals ${s.group}` : `${s.action} ${s.container}`;
    if (label === failOn) throw new Error('boom');
    log.push(label);
  };
  const executors: Executors = {
    stop: async (s) => rec(s),
    remove: async (s) => rec(s),
    'prepare-volumes': async (s) => rec(s),
    create: async (s) => rec(s),
    start: async (s) => rec(s),
    publish: async (s) => rec(s),
    'wait-goals': async (s) => rec(s),
  };
  return { log, executors };
}

const steps = plan(null, aRevision({ containers: { web: aContainer() } }), { revision: 'r1' });

describe('apply', () => {
  it('runs every step through its executor in order', async () => {
    const { log, executors } = recorder();
    await apply(steps, executors, new AbortController().signal);
    expect(log).toEqual(['create web', 'start web', 'wait-goals app']);
  });

  it('stops at the first failing step and names it', async () => {
    const { log, executors } = recorder('start web');
    const run = apply(steps, executors, new AbortController().signal);
    await expect(run).rejects.toBeInstanceOf(StepFailed);
    await expect(run).rejects.toThrow(/step 2 \(start web-[0-9a-f]{12}\) failed: boom/);
    expect(log).toEqual(['create web']);
  });

  it('runs nothing more once the signal is aborted, throwing its reason', async () => {
    const { log, executors } = recorder();
    const ac = new AbortController();
    executors.create = async () => {
      log.push('create');
      ac.abort(new Error('superseded'));
    };
    await expect(apply(steps, executors, ac.signal)).rejects.toThrow('superseded');
    expect(log).toEqual(['create']);
  });
});

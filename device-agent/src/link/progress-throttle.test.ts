import type { Progress } from '@fleet/protocol';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { ProgressThrottle } from './progress-throttle.js';

const base: Progress = {
  updateId: 'u1',
  revision: { digest: `sha256:${'a'.repeat(64)}`, version: '1.0.0', sequence: 1 },
  state: 'downloading',
  status: 'downloading',
  percent: 0,
};
const at = (percent: number, over: Partial<Progress> = {}): Progress => ({ ...base, percent, ...over });

describe('ProgressThrottle', () => {
  beforeEach(() => vi.useFakeTimers({ now: 0 }));
  afterEach(() => vi.useRealTimers());

  const make = () => {
    const sent: Progress[] = [];
    const t = new ProgressThrottle((p) => sent.push(p), { now: () => Date.now() });
    return { sent, t };
  };

  it('sends about one message per second for a download reporting every 200 ms', () => {
    const { sent, t } = make();
    // 60 s of download at 5 reports/s moving 0.1 point each (the downloader's own rate).
    for (let i = 0; i < 300; i++) {
      t.push(at(i * 0.1, { bytesDone: i * 1000, bytesTotal: 300_000 }));
      vi.advanceTimersByTime(200);
    }
    expect(sent.length).toBeGreaterThanOrEqual(59);
    expect(sent.length).toBeLessThanOrEqual(62);
    // The trailing message: the hub ends with the last byte count, not one up to a second old.
    vi.advanceTimersByTime(1000);
    expect(sent.at(-1)?.bytesDone).toBe(299_000);
  });

  it('passes a percentage jump of 5 points at once', () => {
    const { sent, t } = make();
    t.push(at(0));
    t.push(at(2));
    t.push(at(5));
    expect(sent.map((p) => p.percent)).toEqual([0, 5]);
  });

  it('never holds back a state change, a new message or a terminal status', () => {
    const { sent, t } = make();
    t.push(at(40));
    t.push(at(45, { state: 'verifying' }));
    t.push(at(60, { state: 'installing', status: 'installing', message: 'stop web-1' }));
    t.push(at(61, { state: 'installing', status: 'installing', message: 'start web-2' }));
    t.push(at(61, { state: 'installing', status: 'installing', message: 'start web-2' }));
    t.push(at(100, { state: 'idle', status: 'succeeded' }));
    expect(sent.map((p) => p.message ?? p.state)).toEqual([
      'downloading',
      'verifying',
      'stop web-1',
      'start web-2',
      'idle',
    ]);
    // Nothing trails after the terminal message.
    vi.advanceTimersByTime(5000);
    expect(sent).toHaveLength(5);
  });

  it('throttles each update on its own', () => {
    const { sent, t } = make();
    t.push(at(1));
    t.push(at(1, { updateId: 'u2' }));
    t.push(at(2));
    t.push(at(2, { updateId: 'u2' }));
    expect(sent.map((p) => `${p.updateId}:${p.percent}`)).toEqual(['u1:1', 'u2:1']);
    vi.advanceTimersByTime(1000);
    expect(sent.map((p) => `${p.updateId}:${p.percent}`)).toEqual(['u1:1', 'u2:1', 'u1:2', 'u2:2']);
  });

  it('drops a held message once a newer one went out first', () => {
    const { sent, t } = make();
    t.push(at(1));
    t.push(at(2));
    t.push(at(3, { state: 'verifying' }));
    vi.advanceTimersByTime(2000);
    expect(sent.map((p) => p.percent)).toEqual([1, 3]);
  });
});

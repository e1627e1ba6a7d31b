import { describe, expect, it } from 'vitest';
import type { Logs } from '@fleet/protocol';
import { LogShipper } from './log-shipper.js';
import { silentLogger } from './logger.js';

function shipper(linesPerSecond: number, opts: { fail?: boolean; maxBufferedLines?: number } = {}) {
  let now = 1_000_000;
  const sent: Logs[] = [];
  const s = new LogShipper({
    linesPerSecond,
    flushMs: 1000,
    logger: silentLogger,
    now: () => now,
    ...(opts.maxBufferedLines ? { maxBufferedLines: opts.maxBufferedLines } : {}),
    publish: async (l) => {
      if (opts.fail) throw new Error('queue full');
      sent.push(l);
    },
  });
  return { s, sent, advance: (ms: number) => (now += ms) };
}

const line = (i: number) => ({ source: 'web', stream: 'stdout' as const, text: `line ${i}` });

describe('LogShipper', () => {
  it('batches lines in order', async () => {
    const { s, sent } = shipper(100);
    for (let i = 0; i < 5; i++) expect(s.push(line(i))).toBe(true);
    await s.flush();
    expect(sent).toHaveLength(1);
    expect(sent[0]?.lines.map((l) => l.text)).toEqual(['line 0', 'line 1', 'line 2', 'line 3', 'line 4']);
    expect(sent[0]?.dropped).toBe(0);
  });

  it('rate-limits to lines per second and reports the dropped count in the next batch', async () => {
    const { s, sent, advance } = shipper(10);
    let accepted = 0;
    for (let i = 0; i < 25; i++) if (s.push(line(i))) accepted++;
    expect(accepted).toBe(10);
    expect(s.droppedTotal).toBe(15);
    await s.flush();
    expect(sent[0]?.dropped).toBe(15);
    advance(500); // half a second refills 5 tokens
    for (let i = 0; i < 8; i++) s.push(line(100 + i));
    await s.flush();
    expect(sent[1]?.lines).toHaveLength(5);
    expect(sent[1]?.dropped).toBe(3);
  });

  it('splits more than 1000 lines into protocol-sized batches', async () => {
    const { s, sent } = shipper(5000, { maxBufferedLines: 5000 });
    for (let i = 0; i < 2500; i++) s.push(line(i));
    await s.flush();
    expect(sent.map((b) => b.lines.length)).toEqual([1000, 1000, 500]);
    expect(sent.flatMap((b) => b.lines).at(-1)?.text).toBe('line 2499');
  });

  it('truncates a huge line to the protocol limit', async () => {
    const { s, sent } = shipper(10);
    s.push({ source: 'web', stream: 'stderr', text: 'x'.repeat(20_000) });
    await s.flush();
    expect(sent[0]?.lines[0]?.text.length).toBe(8 * 1024);
  });

  it('counts a batch that could not be published as dropped', async () => {
    const { s } = shipper(10, { fail: true });
    s.push(line(1));
    s.push(line(2));
    await s.flush();
    expect(s.droppedTotal).toBe(2);
    expect(s.buffered).toBe(0);
  });
});

import type { TelemetrySample } from '@fleet/protocol';
import { describe, expect, it } from 'vitest';
import type { LinkLogger } from './logger.js';
import {
  TelemetryBatcher,
  type TelemetryBatcherOptions,
  type TelemetryMessage,
} from './telemetry-batcher.js';

const T0 = Date.parse('2026-12-01T00:00:00Z');

function sampleAt(ms: number): TelemetrySample {
  return {
    time: new Date(ms).toISOString(),
    cpuPercent: 1,
    memUsedBytes: 1,
    memTotalBytes: 2,
    diskUsedBytes: 1,
    diskTotalBytes: 2,
  };
}

/** Lets a send started by add() finish (it runs on promises only). */
const settle = () => new Promise((r) => setImmediate(r));

/** A batcher on a fake clock whose `send` is a real promise the test settles. */
function setup(over: Partial<TelemetryBatcherOptions> = {}) {
  const clock = { t: T0 };
  const sent: TelemetrySample[][] = [];
  /** Every message handed to `send`, acknowledged or not. */
  const attempts: TelemetryMessage[] = [];
  const warnings: string[] = [];
  let online = true;
  let failNext = 0;
  const logger: LinkLogger = {
    debug: () => {},
    info: () => {},
    warn: (m: string) => warnings.push(m),
    error: () => {},
  } as unknown as LinkLogger;
  const batcher = new TelemetryBatcher({
    sampleEveryMs: 60_000,
    publishEveryMs: 300_000,
    send: async (m) => {
      attempts.push(m);
      await Promise.resolve();
      if (failNext > 0) {
        failNext--;
        throw new Error('connection closed before PUBACK');
      }
      sent.push(m.samples);
    },
    online: () => online,
    logger,
    now: () => clock.t,
    ...over,
  });
  /** Advances the clock by `ms`, takes a sample stamped then, and lets the send settle. */
  const tick = async (ms: number) => {
    clock.t += ms;
    batcher.add(sampleAt(clock.t));
    await settle();
  };
  return {
    batcher,
    sent,
    attempts,
    warnings,
    clock,
    tick,
    setOnline: (v: boolean) => (online = v),
    failNext: (n: number) => (failNext = n),
  };
}

const times = (batch: TelemetrySample[] | undefined) => (batch ?? []).map((s) => Date.parse(s.time) - T0);

describe('TelemetryBatcher', () => {
  it('publishes the samples of every 5 minutes as one message, each with its own time', async () => {
    const t = setup();
    for (let i = 0; i < 4; i++) await t.tick(60_000);
    expect(t.sent).toEqual([]);
    expect(t.batcher.buffered).toBe(4);
    for (let i = 0; i < 6; i++) await t.tick(60_000);
    expect(t.sent.map(times)).toEqual([
      [60_000, 120_000, 180_000, 240_000, 300_000],
      [360_000, 420_000, 480_000, 540_000, 600_000],
    ]);
    expect(t.batcher.buffered).toBe(0);
  });

  it('keeps 5 samples a message when samples come a little early or late (reads take varying time)', async () => {
    const t = setup();
    // Sample k at k × 60 s, every odd one 0.5 s late: the 5th is late, the 10th on time.
    for (let i = 1; i <= 25; i++) await t.tick(60_000 + (i % 2 ? 500 : -500));
    expect(t.sent.map((b) => b.length)).toEqual([5, 5, 5, 5, 5]);
  });

  it('sends one sample a message when both intervals are equal (the former behaviour)', async () => {
    const t = setup({ publishEveryMs: 60_000 });
    for (let i = 0; i < 3; i++) await t.tick(60_000);
    expect(t.sent.map((b) => b.length)).toEqual([1, 1, 1]);
  });

  it('refuses a publish interval shorter than the sample interval', () => {
    expect(() => setup({ publishEveryMs: 30_000 })).toThrow(
      /publishEveryMs \(30000\) must be ≥ sampleEveryMs \(60000\)/,
    );
  });

  it('holds samples while offline and sends them on reconnect, in order', async () => {
    const t = setup();
    t.setOnline(false);
    for (let i = 0; i < 7; i++) await t.tick(60_000);
    expect(t.sent).toEqual([]);
    expect(t.batcher.buffered).toBe(7);
    t.setOnline(true);
    t.batcher.onConnected();
    await t.batcher.flush();
    expect(t.sent.map(times)).toEqual([[60_000, 120_000, 180_000, 240_000, 300_000, 360_000, 420_000]]);
    // The next message is 5 minutes after this one, not at the old deadline.
    for (let i = 0; i < 4; i++) await t.tick(60_000);
    expect(t.sent).toHaveLength(1);
    await t.tick(60_000);
    expect(t.sent.map((b) => b.length)).toEqual([7, 5]);
  });

  it('does not publish early on a reconnect when nothing is due', async () => {
    const t = setup();
    await t.tick(60_000);
    t.batcher.onConnected();
    await settle();
    expect(t.sent).toEqual([]);
    expect(t.batcher.buffered).toBe(1);
  });

  it('resends a message lost with the connection as it was (same envelope id, same samples), newer samples after it', async () => {
    const t = setup();
    t.failNext(1);
    for (let i = 0; i < 5; i++) await t.tick(60_000);
    expect(t.sent).toEqual([]);
    expect(t.batcher.buffered).toBe(5);
    await t.tick(60_000); // not due yet: the failed attempt counts as this period's publish
    expect(t.sent).toEqual([]);
    t.batcher.onConnected(); // not due either
    await t.batcher.flush(); // what a reconnect after the deadline, or stop(), does
    const [lost, resent, next] = t.attempts;
    expect(t.attempts).toHaveLength(3);
    // The hub may have stored the lost one (PUBACK lost, not the message): it drops the resend by id.
    expect(resent!.id).toBe(lost!.id);
    expect(resent!.samples).toEqual(lost!.samples);
    expect(next!.id).not.toBe(lost!.id);
    expect(t.sent.map(times)).toEqual([[60_000, 120_000, 180_000, 240_000, 300_000], [360_000]]);
    expect(t.batcher.buffered).toBe(0);
  });

  it("keeps a lost message's id through several failed resends and through takeAll()", async () => {
    const t = setup();
    t.failNext(3);
    for (let i = 0; i < 5; i++) await t.tick(60_000);
    await t.batcher.flush();
    await t.batcher.flush();
    expect(new Set(t.attempts.map((m) => m.id)).size).toBe(1);
    await t.tick(60_000);
    const held = t.batcher.takeAll();
    expect(held.map((m) => m.id)).toEqual([t.attempts[0]!.id, expect.any(String)]);
    expect(held[1]!.id).not.toBe(t.attempts[0]!.id);
    expect(held.map((m) => times(m.samples))).toEqual([
      [60_000, 120_000, 180_000, 240_000, 300_000],
      [360_000],
    ]);
    expect(t.batcher.buffered).toBe(0);
  });

  it('trims a lost message from its oldest samples when the buffer is full, keeping its id', async () => {
    const t = setup({ maxBuffered: 6 });
    t.failNext(1);
    for (let i = 0; i < 5; i++) await t.tick(60_000);
    t.setOnline(false);
    for (let i = 0; i < 3; i++) await t.tick(60_000);
    expect(t.batcher.buffered).toBe(6);
    expect(t.batcher.dropped).toBe(2);
    t.setOnline(true);
    await t.batcher.flush();
    expect(t.attempts[1]!.id).toBe(t.attempts[0]!.id);
    expect(t.sent.map(times)).toEqual([
      [180_000, 240_000, 300_000],
      [360_000, 420_000, 480_000],
    ]);
  });

  it('bounds the buffer at max(2 × samples a message, 60), dropping the oldest, counted and logged once', async () => {
    const t = setup();
    expect(t.batcher.maxBuffered).toBe(60);
    t.setOnline(false);
    for (let i = 1; i <= 75; i++) await t.tick(60_000);
    expect(t.batcher.buffered).toBe(60);
    expect(t.batcher.dropped).toBe(15);
    expect(t.warnings).toHaveLength(1);
    expect(t.warnings[0]).toMatch(/telemetry buffer full \(60 samples\)/);
    t.setOnline(true);
    await t.batcher.flush();
    expect(times(t.sent[0])[0]).toBe(16 * 60_000);
    expect(times(t.sent[0]).at(-1)).toBe(75 * 60_000);
    expect(setup({ sampleEveryMs: 1_000, publishEveryMs: 60_000 }).batcher.maxBuffered).toBe(120);
  });

  it('splits what it holds into messages of at most 1 000 samples (protocol limit)', async () => {
    const t = setup({ sampleEveryMs: 1_000, publishEveryMs: 1_000, maxBuffered: 5_000 });
    t.setOnline(false);
    for (let i = 0; i < 2_500; i++) await t.tick(1_000);
    t.setOnline(true);
    await t.batcher.flush();
    expect(t.sent.map((b) => b.length)).toEqual([1_000, 1_000, 500]);
    expect(times(t.sent[2]).at(-1)).toBe(2_500_000);
  });

  it('does not wait for a slow PUBACK to take the next sample, and sends nothing twice', async () => {
    const acks: Array<() => void> = [];
    const sent: number[] = [];
    const t = setup({
      publishEveryMs: 60_000,
      send: ({ samples }) =>
        new Promise<void>((resolve) => {
          sent.push(samples.length);
          acks.push(resolve);
        }),
    });
    t.clock.t += 60_000;
    t.batcher.add(sampleAt(t.clock.t));
    t.clock.t += 60_000;
    t.batcher.add(sampleAt(t.clock.t)); // the first message still awaits its PUBACK
    expect(sent).toEqual([1]);
    expect(t.batcher.buffered).toBe(1);
    acks.shift()?.();
    await Promise.resolve();
    await Promise.resolve();
    const f = t.batcher.flush();
    acks.shift()?.();
    await f;
    expect(sent).toEqual([1, 1]);
    expect(t.batcher.buffered).toBe(0);
  });
});

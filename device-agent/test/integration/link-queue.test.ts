import { appendFile, copyFile, mkdtemp, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { OfflineQueue, QueueFullError } from '../../src/link/offline-queue.js';
import { encodeRecord } from '../../src/link/queue-codec.js';
import { recordingLogger } from './helpers/link-fixtures.js';

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), 'link-queue-'));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const open = (maxBytes = 1024 * 1024, segmentBytes?: number) =>
  OfflineQueue.open({ dir, maxBytes, ...(segmentBytes ? { segmentBytes } : {}), logger: recordingLogger() });
const body = (s: string, pad = 0) => Buffer.from(s + ' '.repeat(pad));
const texts = (q: OfflineQueue) => q.entries().map((e) => e.payload.toString().trim());

async function filesBytes(): Promise<number> {
  let n = 0;
  for (const f of await readdir(dir)) n += (await stat(join(dir, f))).size;
  return n;
}
async function segments(): Promise<string[]> {
  return (await readdir(dir)).filter((f) => f.endsWith('.seg')).sort();
}

describe('offline queue on disk', () => {
  it('survives a restart: entries come back in order, removed ones stay removed, sequence numbers keep growing', async () => {
    const q = await open();
    const seqs: number[] = [];
    for (let i = 0; i < 5; i++) seqs.push((await q.append('report', 'report', body(`r${i}`))).seq as number);
    await q.remove(seqs[0] as number);
    await q.remove(seqs[2] as number);
    await q.close();

    const again = await open();
    expect(texts(again)).toEqual(['r1', 'r3', 'r4']);
    const next = await again.append('progress', '', body('p'));
    expect(next.seq).toBeGreaterThan(Math.max(...seqs));
    await again.close();
  });

  it('detects a torn last record after a power cut, skips it, and keeps later appends readable', async () => {
    const logger = recordingLogger();
    const q = await OfflineQueue.open({ dir, maxBytes: 1024 * 1024, logger });
    for (let i = 0; i < 3; i++) await q.append('report', 'report', body(`r${i}`));
    await q.close();
    // The power cut: half of a fourth record reached the disk.
    const last = (await segments()).at(-1) as string;
    const rec = encodeRecord({ op: 'append', seq: 99, kind: 'report', key: 'report', payload: body('torn') });
    await appendFile(join(dir, last), rec.subarray(0, rec.length - 5));

    const logger2 = recordingLogger();
    const q2 = await OfflineQueue.open({ dir, maxBytes: 1024 * 1024, logger: logger2 });
    expect(texts(q2)).toEqual(['r0', 'r1', 'r2']);
    expect(logger2.lines.some((l) => l.level === 'warn' && /torn frame/.test(l.message))).toBe(true);
    await q2.append('report', 'report', body('after'));
    await q2.close();

    const q3 = await open();
    expect(texts(q3)).toEqual(['r0', 'r1', 'r2', 'after']);
    await q3.close();
  });

  it('a record with flipped bits is detected by its checksum and not replayed', async () => {
    const q = await open();
    await q.append('report', 'report', body('good'));
    await q.append('report', 'report', body('to be damaged'));
    await q.close();
    const last = join(dir, (await segments()).at(-1) as string);
    const { readFile } = await import('node:fs/promises');
    const buf = await readFile(last);
    buf.writeUInt8(buf.readUInt8(buf.length - 2) ^ 0xff, buf.length - 2);
    await writeFile(last, buf);
    const q2 = await open();
    expect(texts(q2)).toEqual(['good']);
    await q2.close();
  });

  it('deletes segments whose entries were all delivered, so an online agent does not grow files', async () => {
    const q = await open(64 * 1024, 4096);
    for (let i = 0; i < 500; i++) {
      const { seq } = await q.append('report', 'report', body(`r${i}`, 100));
      await q.remove(seq as number);
    }
    expect(q.length).toBe(0);
    expect((await segments()).length).toBeLessThanOrEqual(2);
    expect(await filesBytes()).toBeLessThanOrEqual(2 * 4096);
    await q.close();
  });

  it('never uses more than maxBytes on disk, drops the oldest telemetry first, and keeps every report', async () => {
    const max = 16 * 1024;
    const q = await open(max, 4096);
    for (let i = 0; i < 80; i++) {
      await q.append('telemetry', '', body(`t${i}`, 200));
      expect(await filesBytes()).toBeLessThanOrEqual(max);
    }
    for (let i = 0; i < 10; i++) {
      await q.append('progress', '', body(`p${i}`, 200));
      expect(await filesBytes()).toBeLessThanOrEqual(max);
    }
    const left = texts(q);
    expect(left.filter((t) => t.startsWith('p'))).toEqual([
      'p0',
      'p1',
      'p2',
      'p3',
      'p4',
      'p5',
      'p6',
      'p7',
      'p8',
      'p9',
    ]);
    const telemetry = left.filter((t) => t.startsWith('t'));
    // What survives is the newest telemetry, still in order.
    expect(telemetry.at(-1)).toBe('t79');
    expect(telemetry).toEqual(
      Array.from({ length: telemetry.length }, (_, i) => `t${80 - telemetry.length + i}`),
    );
    expect(telemetry.length).toBeLessThan(80);
    expect(q.evictedByKind.telemetry).toBe(80 - telemetry.length);
    await q.close();
  });

  it('when full of reports, keeps the latest report; when full of acks, refuses loudly and loses nothing', async () => {
    const max = 8 * 1024;
    const q = await open(max, 4096);
    for (let i = 0; i < 100; i++) await q.append('report', 'report', body(`r${i}`, 300));
    expect(texts(q).at(-1)).toBe('r99');
    expect(q.evictedByKind.report).toBeGreaterThan(0);
    expect(await filesBytes()).toBeLessThanOrEqual(max);

    let refused: unknown = null;
    const acks: string[] = [];
    for (let i = 0; i < 100 && !refused; i++) {
      try {
        await q.append('ack', '', body(`a${i}`, 300));
        acks.push(`a${i}`);
      } catch (e) {
        refused = e;
      }
    }
    expect(refused).toBeInstanceOf(QueueFullError);
    expect((refused as Error).message).toMatch(/offline queue full: .* never dropped/);
    // Every ack accepted before the refusal is still there, in order, after a restart.
    await q.close();
    const q2 = await open(max, 4096);
    expect(texts(q2).filter((t) => t.startsWith('a'))).toEqual(acks);
    expect(texts(q2).filter((t) => t.startsWith('r'))).toEqual(['r99']);
    await q2.close();
  });

  it('a compaction cut by a crash (its temp file, or a copied segment) does not duplicate or lose entries', async () => {
    const q = await open();
    for (let i = 0; i < 4; i++) await q.append('report', 'report', body(`r${i}`));
    await q.close();
    const segs = await segments();
    const lastSeg = segs.at(-1) as string;
    const n = Number(lastSeg.slice(0, 10));
    // Crash after the rename and before the old segments were unlinked: the same records twice.
    await copyFile(join(dir, lastSeg), join(dir, `${String(n + 5).padStart(10, '0')}.seg`));
    await writeFile(join(dir, `${String(n + 6).padStart(10, '0')}.seg.tmp`), 'half a compaction');
    const q2 = await open();
    expect(texts(q2)).toEqual(['r0', 'r1', 'r2', 'r3']);
    expect((await readdir(dir)).some((f) => f.endsWith('.tmp'))).toBe(false);
    await q2.close();
  });

  it('refuses an entry larger than the whole queue with a clear error', async () => {
    const q = await open(8192, 4096);
    await expect(q.append('report', 'report', Buffer.alloc(10_000))).rejects.toThrow(
      /larger than the whole offline queue/,
    );
    await q.close();
  });
});

describe('offline queue against a model (property, real files)', () => {
  it("after any sequence of appends, removes and restarts, holds exactly the model's entries in order", async () => {
    type Op = { op: 'append'; n: number } | { op: 'remove'; pick: number } | { op: 'reopen' };
    const ops = fc.array(
      fc.oneof(
        {
          weight: 5,
          arbitrary: fc.record({ op: fc.constant('append' as const), n: fc.integer({ min: 0, max: 400 }) }),
        },
        { weight: 3, arbitrary: fc.record({ op: fc.constant('remove' as const), pick: fc.nat() }) },
        { weight: 1, arbitrary: fc.record({ op: fc.constant('reopen' as const) }) },
      ),
      { minLength: 30, maxLength: 100 },
    );
    let run = 0;
    let compactions = 0;
    const property = fc.asyncProperty(ops, async (list: Op[]) => {
      const d = join(dir, `run-${run++}`);
      // Progress and acks without keys are never evicted: the model is a FIFO with removals, and
      // an append may only be refused when the live entries plus the new one truly exceed 8 KiB.
      const MAX = 8 * 1024;
      const openQ = () =>
        OfflineQueue.open({ dir: d, maxBytes: MAX, segmentBytes: 4096, logger: recordingLogger() });
      let q = await openQ();
      const model: { seq: number; text: string }[] = [];
      for (const o of list) {
        if (o.op === 'append') {
          const text = `e${o.n}-${'x'.repeat(o.n)}`;
          try {
            const { seq } = await q.append(o.n % 2 ? 'progress' : 'ack', '', Buffer.from(text));
            model.push({ seq: seq as number, text });
          } catch (e) {
            expect(e).toBeInstanceOf(QueueFullError);
            expect(q.liveBytes + 20 + text.length).toBeGreaterThan(MAX);
          }
        } else if (o.op === 'remove' && model.length > 0) {
          const [victim] = model.splice(o.pick % model.length, 1);
          await q.remove(victim!.seq);
        } else if (o.op === 'reopen') {
          compactions += q.compactions;
          await q.close();
          q = await openQ();
        }
        expect(q.entries().map((e) => e.payload.toString())).toEqual(model.map((m) => m.text));
        expect(q.diskBytes).toBeLessThanOrEqual(MAX);
      }
      compactions += q.compactions;
      await q.close();
      const final = await openQ();
      expect(final.entries().map((e) => e.seq)).toEqual(model.map((m) => m.seq));
      await final.close();
    });
    // The case this property found once in CI (a REMOVE record written past maxBytes: 8195 of
    // 8192), replayed every run; then fresh random cases.
    await fc.assert(property, { seed: -2111702237, path: '39', endOnFailure: true });
    await fc.assert(property, { numRuns: 40 });
    expect(compactions).toBeGreaterThan(0); // the property did exercise compaction
    // Up to 4,000 fdatasync'ed appends: on a busy machine this took 123 s once (CI, 2 cores).
  }, 600_000);
});

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  decodeSegment,
  encodeRecord,
  QUEUE_KINDS,
  type AppendRecord,
  type QueueRecord,
} from './queue-codec.js';

const append = (seq: number, payload = `payload-${seq}`): AppendRecord => ({
  op: 'append',
  seq,
  kind: 'report',
  key: 'report',
  payload: Buffer.from(payload),
});

describe('queue record framing', () => {
  it('round-trips appends and removes in order', () => {
    const recs: QueueRecord[] = [
      append(1),
      { op: 'remove', seq: 1 },
      { ...append(2), kind: 'telemetry', key: '' },
    ];
    const buf = Buffer.concat(recs.map(encodeRecord));
    const out = decodeSegment(buf);
    expect(out.problem).toBeUndefined();
    expect(out.validBytes).toBe(buf.length);
    expect(out.records).toEqual(recs);
  });

  it('round-trips any record (property)', () => {
    const rec = fc.oneof(
      fc.record({
        op: fc.constant('append' as const),
        seq: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
        kind: fc.constantFrom(...QUEUE_KINDS),
        key: fc.string({ maxLength: 40 }),
        payload: fc.uint8Array({ maxLength: 300 }).map((a) => Buffer.from(a)),
      }),
      fc.record({
        op: fc.constant('remove' as const),
        seq: fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }),
      }),
    );
    fc.assert(
      fc.property(fc.array(rec, { maxLength: 20 }), (recs) => {
        const out = decodeSegment(Buffer.concat(recs.map(encodeRecord)));
        expect(out.problem).toBeUndefined();
        expect(out.records).toEqual(recs);
      }),
    );
  });

  it('detects a torn last record at every cut point and keeps the records before it', () => {
    const whole = Buffer.concat([encodeRecord(append(1)), encodeRecord(append(2))]);
    const firstLen = encodeRecord(append(1)).length;
    for (let cut = firstLen + 1; cut < whole.length; cut++) {
      const out = decodeSegment(whole.subarray(0, cut));
      expect(out.records).toEqual([append(1)]);
      expect(out.validBytes).toBe(firstLen);
      expect(out.problem).toMatch(/torn/);
    }
  });

  it('detects a flipped bit by its checksum', () => {
    const buf = Buffer.concat([encodeRecord(append(1)), encodeRecord(append(2, 'hello world'))]);
    buf.writeUInt8(buf.readUInt8(buf.length - 3) ^ 0x10, buf.length - 3);
    const out = decodeSegment(buf);
    expect(out.records).toHaveLength(1);
    expect(out.problem).toMatch(/checksum mismatch/);
  });

  it('treats a tail of zeros (delayed allocation after a power cut) as garbage, not records', () => {
    const buf = Buffer.concat([encodeRecord(append(7)), Buffer.alloc(64)]);
    const out = decodeSegment(buf);
    expect(out.records).toEqual([append(7)]);
    expect(out.problem).toMatch(/impossible frame length 0/);
  });

  it('refuses an absurd length instead of allocating it', () => {
    const head = Buffer.alloc(8);
    head.writeUInt32LE(0xffffffff, 0);
    expect(decodeSegment(head).problem).toMatch(/impossible frame length/);
  });
});

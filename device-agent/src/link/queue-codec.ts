import { crc32 } from 'node:zlib';

/**
 * Framing of the offline queue's segment files (pure; see offline-queue.ts for the files).
 *
 *   frame  = bodyLength u32le | crc32(body) u32le | body
 *   body   = op u8 | ...
 *     APPEND (1): kind u8 | seq u64le | keyLength u16le | key utf8 | payload
 *     REMOVE (2): seq u64le
 *
 * The CRC covers the whole body, so a record half written by a power cut, a tail of zeros left
 * by delayed allocation, or flipped bits are all detected; reading stops at the first bad frame
 * because after a bad length nothing later can be trusted to start on a frame boundary.
 */
export const QUEUE_KINDS = ['report', 'progress', 'ack', 'telemetry', 'logs'] as const;
export type QueueKind = (typeof QUEUE_KINDS)[number];

export const OP_APPEND = 1;
export const OP_REMOVE = 2;
export const FRAME_HEADER_BYTES = 8;
/** Larger than any payload protocol accepts (4 MiB) plus the record's own fields. */
export const MAX_BODY_BYTES = 5 * 1024 * 1024;

export interface AppendRecord {
  op: 'append';
  seq: number;
  kind: QueueKind;
  /** Coalescing key: entries with the same non-empty key may be merged when the queue is full. */
  key: string;
  payload: Buffer;
}
export interface RemoveRecord {
  op: 'remove';
  seq: number;
}
export type QueueRecord = AppendRecord | RemoveRecord;

export function encodeRecord(r: QueueRecord): Buffer {
  let body: Buffer;
  if (r.op === 'append') {
    const key = Buffer.from(r.key, 'utf8');
    if (key.length > 0xffff) throw new RangeError(`queue key of ${key.length} bytes is too long`);
    const kind = QUEUE_KINDS.indexOf(r.kind);
    if (kind < 0) throw new RangeError(`unknown queue kind ${String(r.kind)}`);
    body = Buffer.alloc(1 + 1 + 8 + 2 + key.length + r.payload.length);
    body.writeUInt8(OP_APPEND, 0);
    body.writeUInt8(kind, 1);
    body.writeBigUInt64LE(BigInt(r.seq), 2);
    body.writeUInt16LE(key.length, 10);
    key.copy(body, 12);
    r.payload.copy(body, 12 + key.length);
  } else {
    body = Buffer.alloc(9);
    body.writeUInt8(OP_REMOVE, 0);
    body.writeBigUInt64LE(BigInt(r.seq), 1);
  }
  if (body.length > MAX_BODY_BYTES)
    throw new RangeError(`queue record of ${body.length} bytes exceeds ${MAX_BODY_BYTES}`);
  const head = Buffer.alloc(FRAME_HEADER_BYTES);
  head.writeUInt32LE(body.length, 0);
  head.writeUInt32LE(crc32(body), 4);
  return Buffer.concat([head, body]);
}

export interface DecodedSegment {
  records: QueueRecord[];
  /** Bytes from the start that held whole, valid frames. */
  validBytes: number;
  /** Why reading stopped before the end, when it did. */
  problem?: string;
}

export function decodeSegment(buf: Buffer): DecodedSegment {
  const records: QueueRecord[] = [];
  let off = 0;
  const stop = (problem: string): DecodedSegment => ({ records, validBytes: off, problem });
  while (off < buf.length) {
    if (buf.length - off < FRAME_HEADER_BYTES)
      return stop(`torn frame header at byte ${off} (${buf.length - off} bytes left)`);
    const len = buf.readUInt32LE(off);
    const crc = buf.readUInt32LE(off + 4);
    if (len === 0 || len > MAX_BODY_BYTES) return stop(`impossible frame length ${len} at byte ${off}`);
    if (off + FRAME_HEADER_BYTES + len > buf.length) {
      return stop(
        `torn frame at byte ${off}: ${len} bytes announced, ${buf.length - off - FRAME_HEADER_BYTES} present`,
      );
    }
    const body = buf.subarray(off + FRAME_HEADER_BYTES, off + FRAME_HEADER_BYTES + len);
    if (crc32(body) !== crc) return stop(`checksum mismatch in frame at byte ${off}`);
    const rec = decodeBody(body);
    if (typeof rec === 'string') return stop(`${rec} in frame at byte ${off}`);
    records.push(rec);
    off += FRAME_HEADER_BYTES + len;
  }
  return { records, validBytes: off };
}

function decodeBody(body: Buffer): QueueRecord | string {
  const op = body.readUInt8(0);
  if (op === OP_APPEND) {
    if (body.length < 12) return 'short append record';
    const kind = QUEUE_KINDS[body.readUInt8(1)];
    if (!kind) return `unknown kind ${body.readUInt8(1)}`;
    const seq = Number(body.readBigUInt64LE(2));
    const keyLen = body.readUInt16LE(10);
    if (12 + keyLen > body.length) return 'key runs past the record';
    return {
      op: 'append',
      kind,
      seq,
      key: body.subarray(12, 12 + keyLen).toString('utf8'),
      // A copy: the segment buffer is dropped after loading.
      payload: Buffer.from(body.subarray(12 + keyLen)),
    };
  }
  if (op === OP_REMOVE) {
    if (body.length !== 9) return 'remove record of the wrong size';
    return { op: 'remove', seq: Number(body.readBigUInt64LE(1)) };
  }
  return `unknown op ${op}`;
}

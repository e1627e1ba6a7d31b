import { mkdir, open, readFile, readdir, rename, unlink, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { fsyncDir } from './atomic-file.js';
import type { LinkLogger } from './logger.js';
import { decodeSegment, encodeRecord, FRAME_HEADER_BYTES, type QueueKind } from './queue-codec.js';

/** Kinds the queue may drop when full: samples and log lines lose value with age. */
export const DROPPABLE_KINDS: ReadonlySet<QueueKind> = new Set<QueueKind>(['telemetry', 'logs']);

export interface QueueEntry {
  readonly seq: number;
  readonly kind: QueueKind;
  readonly key: string;
  readonly payload: Buffer;
}

interface LiveEntry extends QueueEntry {
  segment: number;
  recordBytes: number;
}

interface Segment {
  number: number;
  bytes: number;
  live: number;
}

export interface OfflineQueueOptions {
  dir: string;
  /** Bound on the bytes of all segment files together, dead records included. */
  maxBytes: number;
  /** A segment rolls over at this size; whole dead segments are deleted. Default maxBytes/8. */
  segmentBytes?: number;
  logger: LinkLogger;
}

/** A report/progress/ack could not be kept: the queue is full of entries that are never dropped. */
export class QueueFullError extends Error {
  override readonly name = 'QueueFullError';
}

export interface AppendResult {
  /** The entry's sequence number, or null when a droppable entry was itself dropped. */
  seq: number | null;
  /** Older entries dropped or coalesced to make room. */
  evicted: number;
}

const SEGMENT_RE = /^(\d{10})\.seg$/;
const segmentName = (n: number) => `${String(n).padStart(10, '0')}.seg`;

/**
 * The on-disk queue of uplink messages kept until the broker acknowledges them.
 *
 * Append-only segment files of CRC-framed records (queue-codec.ts): an APPEND record per
 * entry, a REMOVE record when its PUBACK arrives. Loading replays every segment; a torn or
 * corrupt tail is detected by the CRC and skipped, and new records always go to a fresh
 * segment, never after a possibly torn tail. The oldest segment is deleted once every entry in
 * it is removed (only the oldest: a later segment may hold REMOVE records of earlier entries,
 * and deleting it first would bring those back).
 *
 * fsync policy: APPEND of a report, progress or ack is fdatasync'ed before append() resolves,
 * so what the agent reported survives a power cut (these are rare: state changes and a
 * periodic report). Telemetry and logs are not synced (frequent, droppable, and flash wear
 * matters more than the last seconds of samples). REMOVE records are not synced: losing one
 * means a message is sent again after a power cut, which the hub drops by envelope id.
 *
 * When full (policy, in order): compact (rewrite only live entries); drop the oldest telemetry
 * and logs; for a new droppable entry that still does not fit, drop the new entry; coalesce
 * entries sharing a key keeping the latest (one `report`, the latest progress per update and
 * status); if a report, progress or ack still does not fit, append() throws QueueFullError and
 * nothing already queued is lost.
 */
export class OfflineQueue {
  private readonly live = new Map<number, LiveEntry>();
  private readonly segments = new Map<number, Segment>();
  private active!: { number: number; fh: FileHandle };
  private nextSeq = 1;
  private liveBytesCount = 0;
  private droppableCount = 0;
  private tail: Promise<unknown> = Promise.resolve();
  private closed = false;
  private readonly segmentBytes: number;
  /** Times the live entries were rewritten into one segment since open (a metric; tests use it). */
  compactions = 0;
  /** Entries dropped or coalesced since open, by kind. */
  readonly evictedByKind: Record<QueueKind, number> = {
    report: 0,
    progress: 0,
    ack: 0,
    telemetry: 0,
    logs: 0,
  };

  private constructor(private readonly opts: OfflineQueueOptions) {
    this.segmentBytes = Math.max(
      4096,
      Math.min(opts.segmentBytes ?? Math.floor(opts.maxBytes / 8), opts.maxBytes),
    );
  }

  static async open(opts: OfflineQueueOptions): Promise<OfflineQueue> {
    if (!(opts.maxBytes >= 4096))
      throw new RangeError(`offline queue maxBytes must be >= 4096, got ${opts.maxBytes}`);
    const q = new OfflineQueue(opts);
    await q.load();
    return q;
  }

  /** Live entries in append order (a snapshot). */
  entries(): QueueEntry[] {
    return [...this.live.values()];
  }

  /** Live entries in append order, without copying (the sender walks only the head). */
  *pending(): Generator<QueueEntry> {
    yield* this.live.values();
  }

  has(seq: number): boolean {
    return this.live.has(seq);
  }

  get length(): number {
    return this.live.size;
  }

  /** Bytes of all segment files, the quantity bounded by maxBytes. */
  get diskBytes(): number {
    let n = 0;
    for (const s of this.segments.values()) n += s.bytes;
    return n;
  }

  get liveBytes(): number {
    return this.liveBytesCount;
  }

  countDroppable(): number {
    return this.droppableCount;
  }

  private addLive(e: LiveEntry): void {
    this.live.set(e.seq, e);
    this.liveBytesCount += e.recordBytes;
    if (DROPPABLE_KINDS.has(e.kind)) this.droppableCount++;
  }

  private deleteLive(e: LiveEntry): void {
    if (!this.live.delete(e.seq)) return;
    this.liveBytesCount -= e.recordBytes;
    if (DROPPABLE_KINDS.has(e.kind)) this.droppableCount--;
  }

  append(kind: QueueKind, key: string, payload: Buffer): Promise<AppendResult> {
    return this.serial(() => this.doAppend(kind, key, payload));
  }

  /** Forgets an entry (its PUBACK arrived). Unknown sequence numbers are ignored. */
  remove(seq: number): Promise<void> {
    return this.serial(() => this.doRemove(seq));
  }

  async close(): Promise<void> {
    await this.serial(async () => {
      this.closed = true;
      await this.active.fh.close();
    });
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.tail.then(() => {
      if (this.closed) throw new Error('offline queue is closed');
      return fn();
    });
    this.tail = run.catch(() => {});
    return run;
  }

  private async load(): Promise<void> {
    const { dir, logger } = this.opts;
    await mkdir(dir, { recursive: true, mode: 0o700 });
    const names = await readdir(dir);
    const numbers: number[] = [];
    for (const name of names) {
      const m = SEGMENT_RE.exec(name);
      if (m) numbers.push(Number(m[1]));
      // A compaction cut by a crash before its rename: the old segments are all still there.
      else if (name.endsWith('.tmp')) await unlink(join(dir, name));
    }
    numbers.sort((a, b) => a - b);
    const appended = new Map<number, LiveEntry>();
    const removed = new Set<number>();
    let maxSeq = 0;
    for (const n of numbers) {
      const buf = await readFile(join(dir, segmentName(n)));
      const { records, validBytes, problem } = decodeSegment(buf);
      if (problem)
        logger.warn(
          `offline queue: ${segmentName(n)}: ${problem}; ignoring its last ${buf.length - validBytes} bytes`,
        );
      this.segments.set(n, { number: n, bytes: buf.length, live: 0 });
      for (const r of records) {
        maxSeq = Math.max(maxSeq, r.seq);
        if (r.op === 'remove') removed.add(r.seq);
        // The same seq in a later segment is a copy made by compaction: keep the later one.
        else
          appended.set(r.seq, {
            seq: r.seq,
            kind: r.kind,
            key: r.key,
            payload: r.payload,
            segment: n,
            recordBytes: 0,
          });
      }
    }
    const seqs = [...appended.keys()].filter((s) => !removed.has(s)).sort((a, b) => a - b);
    for (const s of seqs) {
      const e = appended.get(s) as LiveEntry;
      e.recordBytes = encodedSize(e);
      this.addLive(e);
      (this.segments.get(e.segment) as Segment).live++;
    }
    this.nextSeq = maxSeq + 1;
    await this.openNewSegment((numbers.at(-1) ?? 0) + 1);
    await this.collectDeadSegments();
    if (this.live.size > 0)
      logger.info(`offline queue: ${this.live.size} entries waiting from before`, { bytes: this.liveBytes });
  }

  private async openNewSegment(n: number): Promise<void> {
    const fh = await open(join(this.opts.dir, segmentName(n)), 'wx', 0o600);
    // The new name must be durable before a synced record in it counts as durable.
    await fsyncDir(this.opts.dir);
    if (this.active) await this.active.fh.close();
    this.active = { number: n, fh };
    this.segments.set(n, { number: n, bytes: 0, live: 0 });
  }

  private async doAppend(kind: QueueKind, key: string, payload: Buffer): Promise<AppendResult> {
    const seq = this.nextSeq;
    const record = encodeRecord({ op: 'append', seq, kind, key, payload });
    if (record.length > this.opts.maxBytes) {
      throw new QueueFullError(
        `a ${kind} entry of ${record.length} bytes is larger than the whole offline queue (${this.opts.maxBytes} bytes)`,
      );
    }
    let evicted = 0;
    if (this.diskBytes + record.length > this.opts.maxBytes) {
      const room = await this.makeRoom(kind, key, record.length);
      evicted = room.evicted;
      if (!room.fits) {
        this.evictedByKind[kind]++;
        return { seq: null, evicted };
      }
    }
    this.nextSeq++;
    await this.write(record, !DROPPABLE_KINDS.has(kind));
    const seg = this.segments.get(this.active.number) as Segment;
    seg.live++;
    this.addLive({ seq, kind, key, payload, segment: seg.number, recordBytes: record.length });
    return { seq, evicted };
  }

  private async doRemove(seq: number): Promise<void> {
    const e = this.live.get(seq);
    if (!e) return;
    this.deleteLive(e);
    const seg = this.segments.get(e.segment);
    if (seg) seg.live--;
    // Only needed while the APPEND is still on disk; after compaction it may be gone already.
    const record = encodeRecord({ op: 'remove', seq });
    if (this.diskBytes + record.length > this.opts.maxBytes) {
      // The REMOVE record itself would take the files past maxBytes (the model property test
      // found 8195 of 8192): rewriting the live entries drops the APPEND instead, no record needed.
      await this.compact();
      return;
    }
    await this.write(record, false);
    await this.collectDeadSegments();
  }

  private async write(record: Buffer, durable: boolean): Promise<void> {
    let seg = this.segments.get(this.active.number) as Segment;
    if (seg.bytes > 0 && seg.bytes + record.length > this.segmentBytes) {
      await this.openNewSegment(this.active.number + 1);
      seg = this.segments.get(this.active.number) as Segment;
    }
    let done = 0;
    try {
      while (done < record.length) {
        const { bytesWritten } = await this.active.fh.write(
          record,
          done,
          record.length - done,
          seg.bytes + done,
        );
        done += bytesWritten;
      }
      if (durable) await this.active.fh.datasync();
    } catch (e) {
      // Cut the partial frame off so the next record starts on a boundary; if even that fails
      // the next write goes to a new segment, and the loader skips the torn tail.
      await this.active.fh.truncate(seg.bytes).catch(async () => {
        seg.bytes += done;
        await this.openNewSegment(this.active.number + 1).catch(() => {});
      });
      throw e;
    }
    seg.bytes += record.length;
  }

  /** Deletes whole segments from the oldest while every entry in them is removed. */
  private async collectDeadSegments(): Promise<void> {
    const numbers = [...this.segments.keys()].sort((a, b) => a - b);
    for (const n of numbers) {
      const s = this.segments.get(n) as Segment;
      if (n === this.active.number || s.live > 0) return;
      await unlink(join(this.opts.dir, segmentName(n)));
      this.segments.delete(n);
    }
  }

  private async makeRoom(
    kind: QueueKind,
    key: string,
    need: number,
  ): Promise<{ fits: boolean; evicted: number }> {
    const max = this.opts.maxBytes;
    await this.compact();
    const fits = () => this.liveBytes + need <= max;
    if (fits()) return { fits: true, evicted: 0 };
    let evicted = 0;
    const drop = (e: LiveEntry) => {
      this.deleteLive(e);
      this.evictedByKind[e.kind]++;
      evicted++;
    };
    for (const e of [...this.live.values()]) {
      if (fits()) break;
      if (DROPPABLE_KINDS.has(e.kind)) drop(e);
    }
    if (!fits() && !DROPPABLE_KINDS.has(kind)) {
      // The new entry supersedes queued ones with its key (a newer report says all an older one did).
      if (key !== '') for (const e of [...this.live.values()]) if (e.key === key) drop(e);
      // Then every other key keeps only its latest entry.
      const latest = new Map<string, number>();
      for (const e of this.live.values()) if (e.key !== '') latest.set(e.key, e.seq);
      for (const e of [...this.live.values()]) {
        if (fits()) break;
        if (e.key !== '' && latest.get(e.key) !== e.seq) drop(e);
      }
    }
    if (evicted > 0) {
      this.opts.logger.warn(
        `offline queue full (${max} bytes): dropped or coalesced ${evicted} older entries`,
        { ...this.evictedByKind },
      );
      await this.compact();
    }
    if (fits()) return { fits: true, evicted };
    if (DROPPABLE_KINDS.has(kind)) return { fits: false, evicted };
    throw new QueueFullError(
      `offline queue full: ${this.liveBytes} of ${max} bytes hold reports, progress and acks that are never dropped; a ${kind} entry of ${need} bytes does not fit`,
    );
  }

  /**
   * Rewrites the live entries into one new segment and deletes all others. Crash-safe: the new
   * segment appears by rename only when complete; until the old ones are unlinked, the loader
   * sees each live entry twice with the same seq and keeps one.
   */
  private async compact(): Promise<void> {
    const n = this.active.number + 1;
    const tmp = join(this.opts.dir, `${segmentName(n)}.tmp`);
    const fh = await open(tmp, 'wx', 0o600);
    let bytes: number;
    try {
      const parts: Buffer[] = [];
      for (const e of this.live.values())
        parts.push(encodeRecord({ op: 'append', seq: e.seq, kind: e.kind, key: e.key, payload: e.payload }));
      const all = Buffer.concat(parts);
      await fh.writeFile(all);
      bytes = all.length;
      await fh.sync();
    } catch (e) {
      await fh.close();
      await unlink(tmp).catch(() => {});
      throw e;
    }
    await fh.close();
    await rename(tmp, join(this.opts.dir, segmentName(n)));
    await fsyncDir(this.opts.dir);
    await this.active.fh.close();
    for (const old of [...this.segments.keys()]) {
      await unlink(join(this.opts.dir, segmentName(old)));
      this.segments.delete(old);
    }
    this.active = { number: n, fh: await open(join(this.opts.dir, segmentName(n)), 'r+') };
    this.segments.set(n, { number: n, bytes, live: this.live.size });
    for (const e of this.live.values()) e.segment = n;
    this.compactions++;
  }
}

function encodedSize(e: QueueEntry): number {
  return FRAME_HEADER_BYTES + 12 + Buffer.byteLength(e.key) + e.payload.length;
}

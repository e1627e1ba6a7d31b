import { OciError } from './errors.js';
import {
  applyPax,
  BLOCK,
  padding,
  parseHeader,
  parsePaxRecords,
  xattrsFromPax,
  type TarHeader,
} from './tar-header.js';

/**
 * A streaming tar reader: entries come out one by one with their body as an async iterable, so
 * a layer is applied while it downloads and never sits in memory or on disk as a whole.
 * A body not read by the consumer is skipped when the next entry is requested.
 */

export interface TarEntry {
  header: TarHeader;
  xattrs: Map<string, Buffer>;
  /** Only valid until the next entry is requested. */
  body: AsyncIterable<Buffer>;
}

/** Metadata entries (PAX, GNU long names) hold at most this much: anything larger is hostile. */
const MAX_META = 1 << 20;

class ByteReader {
  private chunks: Buffer[] = [];
  private buffered = 0;
  private done = false;
  constructor(private readonly it: AsyncIterator<Uint8Array>) {}

  /** Fills the buffer to at least n bytes; false at end of input. */
  private async fill(n: number): Promise<boolean> {
    while (this.buffered < n && !this.done) {
      const r = await this.it.next();
      if (r.done) {
        this.done = true;
        break;
      }
      const b = Buffer.isBuffer(r.value)
        ? r.value
        : Buffer.from(r.value.buffer, r.value.byteOffset, r.value.byteLength);
      if (b.length > 0) {
        this.chunks.push(b);
        this.buffered += b.length;
      }
    }
    return this.buffered >= n;
  }

  private take(n: number): Buffer {
    const first = this.chunks[0];
    if (first !== undefined && first.length >= n) {
      const out = first.subarray(0, n);
      if (first.length === n) this.chunks.shift();
      else this.chunks[0] = first.subarray(n);
      this.buffered -= n;
      return out;
    }
    const out = Buffer.allocUnsafe(n);
    let pos = 0;
    while (pos < n) {
      const c = this.chunks[0]!;
      const k = Math.min(c.length, n - pos);
      c.copy(out, pos, 0, k);
      pos += k;
      if (k === c.length) this.chunks.shift();
      else this.chunks[0] = c.subarray(k);
    }
    this.buffered -= n;
    return out;
  }

  /** Exactly n bytes, or null if the input ends cleanly before any byte; throws when cut mid-way. */
  async readBlock(n: number, what: string): Promise<Buffer | null> {
    if (!(await this.fill(n))) {
      if (this.buffered === 0) return null;
      throw new OciError('corrupt-layer', `tar stream truncated inside ${what}`);
    }
    return this.take(n);
  }

  /** The next chunk of at most n (> 0) bytes. */
  async chunk(n: number, what: string): Promise<Buffer> {
    if (this.buffered === 0 && !(await this.fill(1)))
      throw new OciError('corrupt-layer', `tar stream truncated inside ${what}`);
    return this.take(Math.min(n, this.chunks[0]!.length));
  }

  async *stream(n: number, what: string): AsyncGenerator<Buffer> {
    let left = n;
    while (left > 0) {
      if (this.buffered === 0 && !(await this.fill(1)))
        throw new OciError('corrupt-layer', `tar stream truncated inside ${what}`);
      const k = Math.min(left, this.chunks[0]!.length);
      left -= k;
      yield this.take(k);
    }
  }

  async skip(n: number, what: string): Promise<void> {
    for await (const _ of this.stream(n, what)) {
      /* discard */
    }
  }

  async readAll(n: number, what: string): Promise<Buffer> {
    const parts: Buffer[] = [];
    for await (const c of this.stream(n, what)) parts.push(c);
    return Buffer.concat(parts, n);
  }
}

function stripNul(b: Buffer): string {
  const end = b.indexOf(0);
  return (end === -1 ? b : b.subarray(0, end)).toString('utf8');
}

export async function* readTar(source: AsyncIterable<Uint8Array>): AsyncGenerator<TarEntry> {
  const reader = new ByteReader(source[Symbol.asyncIterator]());
  let globalPax = new Map<string, Buffer>();
  let localPax: Map<string, Buffer> | null = null;
  let longName: string | null = null;
  let longLink: string | null = null;

  for (;;) {
    const block = await reader.readBlock(BLOCK, 'a header');
    // A stream that ends on a block boundary without the end marker is accepted like Go's
    // archive/tar does: integrity is the job of the blob digest, checked around this reader.
    if (block === null) return;
    const raw = parseHeader(block);
    if (raw === null) return; // end-of-archive; the caller drains trailing padding

    if (
      raw.type === 'pax-header' ||
      raw.type === 'pax-global' ||
      raw.type === 'gnu-longname' ||
      raw.type === 'gnu-longlink'
    ) {
      if (raw.size > MAX_META)
        throw new OciError('corrupt-layer', `tar ${raw.type} entry of ${raw.size} bytes is too large`);
      const data = await reader.readAll(raw.size, `the ${raw.type} entry`);
      await reader.skip(padding(raw.size), 'padding');
      if (raw.type === 'pax-header') localPax = parsePaxRecords(data);
      else if (raw.type === 'pax-global') globalPax = new Map([...globalPax, ...parsePaxRecords(data)]);
      else if (raw.type === 'gnu-longname') longName = stripNul(data);
      else longLink = stripNul(data);
      continue;
    }

    const records = localPax === null ? globalPax : new Map([...globalPax, ...localPax]);
    let header = applyPax(raw, records);
    if (longName !== null && !records.has('path')) header = { ...header, name: longName };
    if (longLink !== null && !records.has('linkpath')) header = { ...header, linkname: longLink };
    localPax = null;
    longName = null;
    longLink = null;
    // Only regular files carry a body: like Go's archive/tar, the size of header-only types
    // (links, directories, devices, fifos) is ignored.
    const bodySize = header.type === 'file' ? header.size : 0;
    const what = `the body of ${JSON.stringify(header.name)}`;
    const state = { left: bodySize };
    const body: AsyncIterable<Buffer> = {
      async *[Symbol.asyncIterator]() {
        while (state.left > 0) {
          const chunk = await reader.chunk(state.left, what);
          state.left -= chunk.length;
          yield chunk;
        }
      },
    };
    yield { header: { ...header, size: bodySize }, xattrs: xattrsFromPax(records), body };
    // Skip whatever the consumer left unread (all of it if it never looked).
    await reader.skip(state.left, what);
    await reader.skip(padding(bodySize), 'padding');
  }
}

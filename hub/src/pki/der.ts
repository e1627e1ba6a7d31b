/**
 * The few DER (X.690) encodings an X.509 certificate and a CRL need, plus a reader that walks
 * TLVs. Deliberately small: node:crypto signs and parses certificates but cannot build them, and
 * the alternatives were spawning `openssl` per device (a process per issuance, and fragile
 * config files) or a general ASN.1 dependency for a dozen structures (decision 0052).
 */

function length(n: number): Buffer {
  if (n < 0x80) return Buffer.from([n]);
  const bytes: number[] = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

export function tlv(tag: number, content: Buffer): Buffer {
  return Buffer.concat([Buffer.from([tag]), length(content.length), content]);
}

export const sequence = (...parts: Buffer[]): Buffer => tlv(0x30, Buffer.concat(parts));
export const set = (...parts: Buffer[]): Buffer => tlv(0x31, Buffer.concat(parts));
export const nullValue = (): Buffer => Buffer.from([0x05, 0x00]);
export const boolean = (value: boolean): Buffer => tlv(0x01, Buffer.from([value ? 0xff : 0x00]));
export const octetString = (value: Buffer): Buffer => tlv(0x04, value);
export const utf8String = (value: string): Buffer => tlv(0x0c, Buffer.from(value, 'utf8'));
export const ia5String = (value: string): Buffer => tlv(0x16, Buffer.from(value, 'ascii'));
/** `[n]` EXPLICIT: wraps a complete encoding. */
export const explicit = (n: number, inner: Buffer): Buffer => tlv(0xa0 + n, inner);
/** `[n]` IMPLICIT primitive: replaces the tag of a primitive value with its content. */
export const implicitPrimitive = (n: number, content: Buffer): Buffer => tlv(0x80 + n, content);

/** BIT STRING with `unusedBits` padding bits at the end of the last byte. */
export function bitString(value: Buffer, unusedBits = 0): Buffer {
  return tlv(0x03, Buffer.concat([Buffer.from([unusedBits]), value]));
}

/** A non-negative INTEGER from big-endian magnitude bytes (minimal, sign byte added when needed). */
export function unsignedInteger(magnitude: Buffer): Buffer {
  let i = 0;
  while (i < magnitude.length - 1 && magnitude[i] === 0) i++;
  let bytes = magnitude.subarray(i);
  if (bytes.length === 0) bytes = Buffer.from([0]);
  if ((bytes[0] ?? 0) & 0x80) bytes = Buffer.concat([Buffer.from([0]), bytes]);
  return tlv(0x02, bytes);
}

export function integer(value: number | bigint): Buffer {
  let v = BigInt(value);
  if (v < 0n) throw new RangeError('only non-negative integers are encoded');
  const bytes: number[] = [];
  do {
    bytes.unshift(Number(v & 0xffn));
    v >>= 8n;
  } while (v > 0n);
  return unsignedInteger(Buffer.from(bytes));
}

export function objectIdentifier(dotted: string): Buffer {
  const arcs = dotted.split('.').map((a) => {
    if (!/^\d+$/.test(a)) throw new Error(`invalid OID ${dotted}`);
    return BigInt(a);
  });
  const [first, second, ...rest] = arcs;
  if (first === undefined || second === undefined) throw new Error(`invalid OID ${dotted}`);
  const out: number[] = [];
  for (const arc of [first * 40n + second, ...rest]) {
    const chunk: number[] = [];
    let v = arc;
    do {
      chunk.unshift(Number(v & 0x7fn));
      v >>= 7n;
    } while (v > 0n);
    for (let i = 0; i < chunk.length - 1; i++) chunk[i] = (chunk[i] ?? 0) | 0x80;
    out.push(...chunk);
  }
  return tlv(0x06, Buffer.from(out));
}

/** RFC 5280 Time: UTCTime for 1950..2049, GeneralizedTime otherwise; whole seconds, UTC. */
export function time(date: Date): Buffer {
  const year = date.getUTCFullYear();
  const p = (n: number) => String(n).padStart(2, '0');
  const rest = `${p(date.getUTCMonth() + 1)}${p(date.getUTCDate())}${p(date.getUTCHours())}${p(date.getUTCMinutes())}${p(date.getUTCSeconds())}Z`;
  if (year >= 1950 && year < 2050) return tlv(0x17, Buffer.from(`${p(year % 100)}${rest}`, 'ascii'));
  return tlv(0x18, Buffer.from(`${String(year).padStart(4, '0')}${rest}`, 'ascii'));
}

export interface Tlv {
  tag: number;
  /** Offset of the tag byte. */
  start: number;
  /** Offset of the first content byte. */
  contentStart: number;
  /** Offset after the last content byte. */
  end: number;
}

/** Reads the TLV at `offset`; throws on truncated or indefinite-length input (not DER). */
export function readTlv(buf: Buffer, offset: number): Tlv {
  const tag = buf[offset];
  let len = buf[offset + 1];
  if (tag === undefined || len === undefined) throw new Error(`DER truncated at ${offset}`);
  let contentStart = offset + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    if (n === 0 || n > 4) throw new Error(`unsupported DER length at ${offset}`);
    len = 0;
    for (let i = 0; i < n; i++) {
      const b = buf[contentStart + i];
      if (b === undefined) throw new Error(`DER truncated at ${offset}`);
      len = len * 256 + b;
    }
    contentStart += n;
  }
  const end = contentStart + len;
  if (end > buf.length) throw new Error(`DER truncated at ${offset}`);
  return { tag, start: offset, contentStart, end };
}

/** The TLVs directly inside a constructed value. */
export function children(buf: Buffer, parent: Tlv): Tlv[] {
  const out: Tlv[] = [];
  for (let at = parent.contentStart; at < parent.end;) {
    const child = readTlv(buf, at);
    out.push(child);
    at = child.end;
  }
  return out;
}

import { OciError } from './errors.js';

/**
 * Pure parsing of tar headers (POSIX ustar, GNU and PAX extensions) as found in OCI and
 * docker layers. No I/O: the streaming reader (tar-reader.ts) feeds 512-byte blocks in.
 */

export const BLOCK = 512;

export type TarEntryType =
  | 'file'
  | 'hardlink'
  | 'symlink'
  | 'char'
  | 'block'
  | 'directory'
  | 'fifo'
  | 'pax-header'
  | 'pax-global'
  | 'gnu-longname'
  | 'gnu-longlink';

export interface TarHeader {
  name: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  /** Seconds since the epoch, fractional when a PAX record gave sub-second precision. */
  mtime: number;
  type: TarEntryType;
  linkname: string;
  uname: string;
  gname: string;
  devmajor: number;
  devminor: number;
}

const TYPE_FLAGS: Record<string, TarEntryType> = {
  '0': 'file',
  '\0': 'file',
  '7': 'file', // contiguous file: a regular file everywhere that matters
  '1': 'hardlink',
  '2': 'symlink',
  '3': 'char',
  '4': 'block',
  '5': 'directory',
  '6': 'fifo',
  x: 'pax-header',
  g: 'pax-global',
  L: 'gnu-longname',
  K: 'gnu-longlink',
};

function cString(block: Uint8Array, offset: number, length: number): string {
  const field = block.subarray(offset, offset + length);
  const end = field.indexOf(0);
  return Buffer.from(end === -1 ? field : field.subarray(0, end)).toString('utf8');
}

/**
 * Numeric fields are octal ASCII terminated by NUL or space, or (GNU/star) base-256 big-endian
 * when the first byte has its high bit set, which is how sizes >= 8 GiB and negative or large
 * uids are written.
 */
export function parseNumeric(block: Uint8Array, offset: number, length: number, field: string): number {
  const bytes = block.subarray(offset, offset + length);
  const first = bytes[0] ?? 0;
  if (first & 0x80) {
    if (first === 0xff) throw new OciError('corrupt-layer', `tar header: negative ${field}`);
    let value = first & 0x7f;
    for (let i = 1; i < bytes.length; i++) {
      value = value * 256 + (bytes[i] ?? 0);
      if (!Number.isSafeInteger(value)) throw new OciError('corrupt-layer', `tar header: ${field} too large`);
    }
    return value;
  }
  const text = Buffer.from(bytes)
    .toString('latin1')
    .replace(/[\0 ]+$/, '')
    .replace(/^[ ]+/, '')
    .replace(/\0.*$/s, '');
  if (text === '') return 0;
  if (!/^[0-7]+$/.test(text))
    throw new OciError('corrupt-layer', `tar header: ${field} is not octal (${JSON.stringify(text)})`);
  return parseInt(text, 8);
}

export function isZeroBlock(block: Uint8Array): boolean {
  for (let i = 0; i < block.length; i++) if (block[i] !== 0) return false;
  return true;
}

/** Sum of the header bytes with the checksum field counted as spaces, unsigned and signed (old tars). */
function checksums(block: Uint8Array): { unsigned: number; signed: number } {
  let unsigned = 0;
  let signed = 0;
  for (let i = 0; i < BLOCK; i++) {
    const b = i >= 148 && i < 156 ? 0x20 : (block[i] ?? 0);
    unsigned += b;
    signed += b > 127 ? b - 256 : b;
  }
  return { unsigned, signed };
}

/** Parses one 512-byte header block. Returns null for an all-zero block (end-of-archive marker). */
export function parseHeader(block: Uint8Array): TarHeader | null {
  if (block.length !== BLOCK)
    throw new OciError('corrupt-layer', `tar header: expected ${BLOCK} bytes, got ${block.length}`);
  if (isZeroBlock(block)) return null;
  const stored = parseNumeric(block, 148, 8, 'checksum');
  const sums = checksums(block);
  if (stored !== sums.unsigned && stored !== sums.signed) {
    throw new OciError(
      'corrupt-layer',
      `tar header: checksum mismatch (stored ${stored}, computed ${sums.unsigned}): not a tar stream or corrupt`,
    );
  }
  const flag = String.fromCharCode(block[156] ?? 0);
  const type = TYPE_FLAGS[flag];
  if (type === undefined)
    throw new OciError(
      'unsupported',
      `tar header: unsupported entry type ${JSON.stringify(flag)} for ${JSON.stringify(cString(block, 0, 100))}`,
    );
  const magic = Buffer.from(block.subarray(257, 263)).toString('latin1');
  let name = cString(block, 0, 100);
  // POSIX ustar splits long names into prefix + name; GNU tar ("ustar  \0") uses that area for
  // other fields and writes long names as 'L' entries instead.
  if (magic === 'ustar\0') {
    const prefix = cString(block, 345, 155);
    if (prefix !== '') name = `${prefix}/${name}`;
  }
  return {
    name,
    // Pre-POSIX (v7) tars mark directories only by a trailing slash on a regular-file entry.
    type: type === 'file' && name.endsWith('/') ? 'directory' : type,
    mode: parseNumeric(block, 100, 8, 'mode') & 0o7777,
    uid: parseNumeric(block, 108, 8, 'uid'),
    gid: parseNumeric(block, 116, 8, 'gid'),
    size: parseNumeric(block, 124, 12, 'size'),
    mtime: parseNumeric(block, 136, 12, 'mtime'),
    linkname: cString(block, 157, 100),
    uname: cString(block, 265, 32),
    gname: cString(block, 297, 32),
    devmajor: parseNumeric(block, 329, 8, 'devmajor'),
    devminor: parseNumeric(block, 337, 8, 'devminor'),
  };
}

/**
 * PAX extended header records: "<len> <key>=<value>\n", len counting the whole record in bytes.
 * Values stay Buffers because xattr values are binary.
 */
export function parsePaxRecords(data: Uint8Array): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  let pos = 0;
  while (pos < buf.length) {
    if (buf[pos] === 0) break; // padding some writers leave at the end
    const space = buf.indexOf(0x20, pos);
    if (space === -1) throw new OciError('corrupt-layer', 'tar PAX header: record without length');
    const lenText = buf.subarray(pos, space).toString('latin1');
    if (!/^[0-9]+$/.test(lenText))
      throw new OciError('corrupt-layer', `tar PAX header: bad record length ${JSON.stringify(lenText)}`);
    const len = parseInt(lenText, 10);
    const end = pos + len;
    if (len <= space - pos + 1 || end > buf.length || buf[end - 1] !== 0x0a) {
      throw new OciError('corrupt-layer', 'tar PAX header: record length does not match its content');
    }
    const record = buf.subarray(space + 1, end - 1);
    const eq = record.indexOf(0x3d);
    if (eq === -1) throw new OciError('corrupt-layer', 'tar PAX header: record without "="');
    out.set(record.subarray(0, eq).toString('utf8'), Buffer.from(record.subarray(eq + 1)));
    pos = end;
  }
  return out;
}

/** Extended attributes carried in PAX records (SCHILY.xattr.* as written by GNU tar, Go and star). */
export function xattrsFromPax(records: Map<string, Buffer>): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  for (const [key, value] of records) {
    if (key.startsWith('SCHILY.xattr.')) out.set(key.slice('SCHILY.xattr.'.length), value);
    else if (key.startsWith('LIBARCHIVE.xattr.')) {
      // libarchive URL-encodes the name and base64-encodes the value.
      out.set(
        decodeURIComponent(key.slice('LIBARCHIVE.xattr.'.length)),
        Buffer.from(value.toString('latin1'), 'base64'),
      );
    }
  }
  return out;
}

/** Applies PAX overrides (path, linkpath, size, ids, names, mtime) to a header. */
export function applyPax(header: TarHeader, records: Map<string, Buffer>): TarHeader {
  const h = { ...header };
  const text = (k: string): string | undefined => records.get(k)?.toString('utf8');
  const int = (k: string): number | undefined => {
    const v = text(k);
    if (v === undefined) return undefined;
    if (!/^[0-9]+$/.test(v))
      throw new OciError('corrupt-layer', `tar PAX header: ${k} is not a number (${JSON.stringify(v)})`);
    return parseInt(v, 10);
  };
  h.name = text('path') ?? h.name;
  h.linkname = text('linkpath') ?? h.linkname;
  h.size = int('size') ?? h.size;
  h.uid = int('uid') ?? h.uid;
  h.gid = int('gid') ?? h.gid;
  h.uname = text('uname') ?? h.uname;
  h.gname = text('gname') ?? h.gname;
  const mtime = text('mtime');
  if (mtime !== undefined) {
    if (!/^-?[0-9]+(\.[0-9]+)?$/.test(mtime))
      throw new OciError('corrupt-layer', `tar PAX header: bad mtime ${JSON.stringify(mtime)}`);
    h.mtime = Number(mtime);
  }
  return h;
}

/** Bytes of padding after a body of `size` bytes up to the next block boundary. */
export function padding(size: number): number {
  const rest = size % BLOCK;
  return rest === 0 ? 0 : BLOCK - rest;
}

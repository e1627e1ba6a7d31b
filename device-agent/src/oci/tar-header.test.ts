import { describe, expect, it } from 'vitest';
import { OciError } from './errors.js';
import { applyPax, parseHeader, parseNumeric, parsePaxRecords, xattrsFromPax } from './tar-header.js';

/** Builds a 512-byte header the way GNU tar / Go write them. */
function header(fields: {
  name?: string;
  mode?: number;
  uid?: number;
  gid?: number;
  size?: number;
  mtime?: number;
  type?: string;
  linkname?: string;
  prefix?: string;
  magic?: string;
}): Buffer {
  const b = Buffer.alloc(512);
  const put = (off: number, len: number, s: string) => b.write(s, off, len, 'utf8');
  const oct = (off: number, len: number, n: number) =>
    put(off, len, `${n.toString(8).padStart(len - 1, '0')}\0`);
  put(0, 100, fields.name ?? 'file.txt');
  oct(100, 8, fields.mode ?? 0o644);
  oct(108, 8, fields.uid ?? 0);
  oct(116, 8, fields.gid ?? 0);
  oct(124, 12, fields.size ?? 0);
  oct(136, 12, fields.mtime ?? 1_700_000_000);
  put(156, 1, fields.type ?? '0');
  put(157, 100, fields.linkname ?? '');
  b.write(fields.magic ?? 'ustar\u000000', 257, 8, 'latin1');
  put(345, 155, fields.prefix ?? '');
  b.fill(0x20, 148, 156);
  let sum = 0;
  for (const x of b) sum += x;
  put(148, 8, `${sum.toString(8).padStart(6, '0')}\0 `);
  return b;
}

const record = (k: string, v: string): string => {
  const body = ` ${k}=${v}\n`;
  let len = body.length + 1;
  while (`${len}${body}`.length !== len) len = `${len}${body}`.length;
  return `${len}${body}`;
};

describe('tar header parsing', () => {
  it('reads a ustar header with prefix, mode bits and ids', () => {
    const h = parseHeader(
      header({ name: 'busybox', prefix: 'usr/bin', mode: 0o104755, uid: 1000, gid: 50, size: 12345 }),
    )!;
    expect(h).toMatchObject({
      name: 'usr/bin/busybox',
      mode: 0o4755,
      uid: 1000,
      gid: 50,
      size: 12345,
      type: 'file',
      mtime: 1_700_000_000,
    });
  });

  it('maps every type flag', () => {
    const types: [string, string][] = [
      ['0', 'file'],
      ['\0', 'file'],
      ['1', 'hardlink'],
      ['2', 'symlink'],
      ['3', 'char'],
      ['4', 'block'],
      ['5', 'directory'],
      ['6', 'fifo'],
      ['x', 'pax-header'],
      ['g', 'pax-global'],
      ['L', 'gnu-longname'],
      ['K', 'gnu-longlink'],
    ];
    for (const [flag, type] of types) expect(parseHeader(header({ type: flag }))!.type).toBe(type);
  });

  it('ignores the prefix field of GNU-format headers', () => {
    const b = header({ name: 'a', prefix: 'junk', magic: 'ustar  \0' });
    expect(parseHeader(b)!.name).toBe('a');
  });

  it('reads a v7 directory (regular-file type, trailing slash) as a directory', () => {
    expect(parseHeader(header({ name: 'old/', type: '0' }))!.type).toBe('directory');
  });

  it('returns null for the zero end-of-archive block', () => {
    expect(parseHeader(Buffer.alloc(512))).toBeNull();
  });

  it('refuses a bad checksum, naming it', () => {
    const b = header({});
    b[0] = 0x58;
    expect(() => parseHeader(b)).toThrow(/checksum mismatch/);
  });

  it('refuses an unknown entry type', () => {
    expect(() => parseHeader(header({ type: 'Z' }))).toThrow(OciError);
  });

  it('reads base-256 numbers (sizes past 8 GiB)', () => {
    const b = Buffer.alloc(12);
    b[0] = 0x80;
    b.writeUIntBE(10 * 2 ** 30, 6, 6);
    expect(parseNumeric(b, 0, 12, 'size')).toBe(10 * 2 ** 30);
  });

  it('refuses non-octal numbers', () => {
    expect(() => parseNumeric(Buffer.from('12z4567\0'), 0, 8, 'mode')).toThrow(/not octal/);
  });

  it('parses PAX records, xattrs included, and applies them', () => {
    const long = `${'d/'.repeat(80)}file`;
    const data = Buffer.from(
      record('path', long) +
        record('mtime', '1700000000.5') +
        record('SCHILY.xattr.user.a', 'v\u0001') +
        record('uid', '70000') +
        record('LIBARCHIVE.xattr.user.b%3Dc', Buffer.from('xyz').toString('base64')),
    );
    const recs = parsePaxRecords(data);
    const h = applyPax(parseHeader(header({}))!, recs);
    expect(h.name).toBe(long);
    expect(h.mtime).toBe(1700000000.5);
    expect(h.uid).toBe(70000);
    const x = xattrsFromPax(recs);
    expect(x.get('user.a')).toEqual(Buffer.from('v\u0001'));
    expect(x.get('user.b=c')).toEqual(Buffer.from('xyz'));
  });

  it('refuses a PAX record whose length lies', () => {
    expect(() => parsePaxRecords(Buffer.from('99 path=a\n'))).toThrow(/record length/);
    expect(() => parsePaxRecords(Buffer.from('x path=a\n'))).toThrow(/bad record length/);
  });
});

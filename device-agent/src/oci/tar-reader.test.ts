import { describe, expect, it } from 'vitest';
import { readTar } from './tar-reader.js';

/** In-memory ustar writer (PAX and GNU long-name entries included) for the reader's tests. */
function entry(name: string, type: string, body = '', linkname = ''): Buffer {
  const b = Buffer.alloc(512);
  const data = Buffer.from(body);
  const put = (off: number, len: number, s: string) => b.write(s, off, len, 'utf8');
  const oct = (off: number, len: number, n: number) =>
    put(off, len, `${n.toString(8).padStart(len - 1, '0')}\0`);
  put(0, 100, name);
  oct(100, 8, 0o644);
  oct(108, 8, 0);
  oct(116, 8, 0);
  oct(124, 12, data.length);
  oct(136, 12, 1);
  put(156, 1, type);
  put(157, 100, linkname);
  b.write('ustar\u000000', 257, 8, 'latin1');
  b.fill(0x20, 148, 156);
  let sum = 0;
  for (const x of b) sum += x;
  put(148, 8, `${sum.toString(8).padStart(6, '0')}\0 `);
  return Buffer.concat([b, data, Buffer.alloc((512 - (data.length % 512)) % 512)]);
}
const pax = (records: Record<string, string>): Buffer =>
  entry(
    'PaxHeaders/x',
    'x',
    Object.entries(records)
      .map(([k, v]) => {
        const body = ` ${k}=${v}\n`;
        let len = body.length + 1;
        while (`${len}${body}`.length !== len) len = `${len}${body}`.length;
        return `${len}${body}`;
      })
      .join(''),
  );
const END = Buffer.alloc(1024);

/** Feeds the archive in awkward chunk sizes so headers and bodies straddle chunk borders. */
async function* chunked(buf: Buffer, size: number): AsyncGenerator<Buffer> {
  for (let i = 0; i < buf.length; i += size) yield buf.subarray(i, i + size);
}

async function collect(
  buf: Buffer,
  size = 7,
  readBodies = true,
): Promise<{ name: string; type: string; body: string; link: string; xattrs: string[] }[]> {
  const out = [];
  for await (const e of readTar(chunked(buf, size))) {
    let body = '';
    if (readBodies) for await (const c of e.body) body += c.toString();
    out.push({
      name: e.header.name,
      type: e.header.type,
      body,
      link: e.header.linkname,
      xattrs: [...e.xattrs.keys()],
    });
  }
  return out;
}

describe('streaming tar reader', () => {
  const long = `${'deep/'.repeat(40)}file.txt`;
  const archive = Buffer.concat([
    entry('dir/', '5'),
    entry('dir/a.txt', '0', 'hello '.repeat(200)),
    pax({ path: long, 'SCHILY.xattr.user.k': 'v' }),
    entry('ignored-name', '0', 'pax body'),
    entry('././@LongLink', 'L', `${long}.2\0`),
    entry('short', '0', 'gnu body'),
    entry('dir/link', '2', '', 'a.txt'),
    entry('dir/hard', '1', '', 'dir/a.txt'),
    END,
  ]);

  it.each([1, 7, 511, 512, 513, 100_000])(
    'reads entries, bodies, PAX and GNU names with %i-byte chunks',
    async (size) => {
      expect(await collect(archive, size)).toEqual([
        { name: 'dir/', type: 'directory', body: '', link: '', xattrs: [] },
        { name: 'dir/a.txt', type: 'file', body: 'hello '.repeat(200), link: '', xattrs: [] },
        { name: long, type: 'file', body: 'pax body', link: '', xattrs: ['user.k'] },
        { name: `${long}.2`, type: 'file', body: 'gnu body', link: '', xattrs: [] },
        { name: 'dir/link', type: 'symlink', body: '', link: 'a.txt', xattrs: [] },
        { name: 'dir/hard', type: 'hardlink', body: '', link: 'dir/a.txt', xattrs: [] },
      ]);
    },
  );

  it('skips bodies the consumer does not read, or reads only partly', async () => {
    expect((await collect(archive, 13, false)).map((e) => e.name)).toHaveLength(6);
    const names: string[] = [];
    for await (const e of readTar(chunked(archive, 64))) {
      names.push(e.header.name);
      for await (const _ of e.body) break;
    }
    expect(names).toHaveLength(6);
  });

  it('reports a stream cut inside a body, naming the entry', async () => {
    const cut = archive.subarray(0, 512 + 600);
    await expect(collect(cut)).rejects.toThrow('tar stream truncated inside the body of "dir/a.txt"');
  });

  it('reports a stream cut inside a header', async () => {
    await expect(collect(archive.subarray(0, 300))).rejects.toThrow('tar stream truncated inside a header');
  });

  it('stops at the end-of-archive marker and accepts a stream ending on a block boundary', async () => {
    expect(await collect(Buffer.concat([entry('x', '0', 'y'), END, entry('after-end', '0')]))).toHaveLength(
      1,
    );
    expect(await collect(entry('x', '0', 'y'))).toHaveLength(1);
  });

  it('refuses garbage that is not tar', async () => {
    await expect(collect(Buffer.alloc(1024, 0x41))).rejects.toThrow(/checksum mismatch|not octal/);
  });
});

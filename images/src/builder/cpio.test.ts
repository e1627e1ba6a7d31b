import { describe, expect, it } from 'vitest';
import { cpioNewc } from './cpio.js';

describe('cpio newc writer', () => {
  it('writes headers, names and data 4-byte aligned, then the trailer', () => {
    const out = cpioNewc(
      [
        { kind: 'dir', path: 'bin' },
        { kind: 'file', path: '/init', data: Buffer.from('#!/bin/sh\n'), mode: 0o755 },
        { kind: 'symlink', path: 'sh', target: 'bin/busybox' },
      ],
      0x5f5e1000,
    );
    const text = out.toString('latin1');
    expect(text.startsWith('07070100000001000041ed')).toBe(true);
    // file header: ino 2, mode 100755, mtime, size 10, namesize 5 ("init\0")
    expect(text).toContain(
      '07070100000002000081ed0000000000000000000000015f5e10000000000a0000000000000000000000000000000000000005' +
        '00000000init\0',
    );
    expect(text).toContain('#!/bin/sh\n');
    expect(text).toContain('sh\0\0\0\0bin/busybox');
    expect(text).toContain('TRAILER!!!');
    expect(out.length % 4).toBe(0);
  });

  it('is byte-identical for identical input', () => {
    const entries = [{ kind: 'file' as const, path: 'a', data: Buffer.from('x') }];
    expect(cpioNewc(entries, 1).equals(cpioNewc(entries, 1))).toBe(true);
  });

  it('refuses duplicate and escaping paths', () => {
    expect(() =>
      cpioNewc(
        [
          { kind: 'dir', path: 'a' },
          { kind: 'dir', path: '/a' },
        ],
        0,
      ),
    ).toThrow('cpio: duplicate path a');
    expect(() => cpioNewc([{ kind: 'dir', path: '../etc' }], 0)).toThrow('cpio: invalid path "../etc"');
    expect(() => cpioNewc([{ kind: 'dir', path: '/' }], 0)).toThrow('cpio: invalid path "/"');
  });
});

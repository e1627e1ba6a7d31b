import { describe, expect, it } from 'vitest';
import { formatFwEnvConfig, parseFwEnvConfig } from './fw-env-config.js';

describe('fw_env.config', () => {
  it('parses two redundant copies with hex and decimal numbers and comments', () => {
    const config = parseFwEnvConfig(
      '# device offset size\n/dev/vda 0x100000 0x4000\n/dev/vda 1064960 16384 # second\n',
    );
    expect(config.copies).toEqual([
      { device: '/dev/vda', offset: 0x100000, size: 0x4000 },
      { device: '/dev/vda', offset: 0x104000, size: 0x4000 },
    ]);
  });

  it('round-trips through format', () => {
    const config = { copies: [{ device: '/tmp/env.img', offset: 0, size: 0x2000 }] };
    expect(parseFwEnvConfig(formatFwEnvConfig(config))).toEqual(config);
  });

  it.each([
    ['', 'must list 1 or 2 environment copies, found 0'],
    ['/dev/vda 0x0\n', 'line 1: expected "<device> <offset> <size>"'],
    ['/dev/vda zz 0x4000\n', 'line 1: offset "zz" is not a number'],
    ['/dev/vda 0 0x4000\n/dev/vda 0x4000 0x2000\n', 'redundant copies differ in size (16384 vs 8192)'],
    ['/dev/vda 0 0x4000\n/dev/vda 0x2000 0x4000\n', 'redundant copies overlap'],
    ['a 0 16\nb 0 16\nc 0 16\n', 'found 3'],
  ])('rejects %j', (text, message) => {
    expect(() => parseFwEnvConfig(text)).toThrow(message);
  });
});

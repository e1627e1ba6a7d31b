import { describe, expect, it } from 'vitest';
import { attachArgs } from './attach.js';

describe('attachArgs', () => {
  it('clears the host environment, runs as the container user and passes argv untouched', () => {
    const args = attachArgs(
      {
        lxcpath: '/var/lib/fleet/lxc',
        name: 'web',
        uid: 1000,
        gid: 1001,
        cwd: '/srv',
        env: { PATH: '/bin', A: 'x y' },
      },
      ['sh', '-c', 'echo "a b"'],
      { A: 'override' },
    );
    expect(args).toEqual([
      '-P',
      '/var/lib/fleet/lxc',
      '-n',
      'web',
      '--clear-env',
      '-u',
      '1000',
      '-g',
      '1001',
      '-v',
      'PATH=/bin',
      '-v',
      'A=override',
      '--',
      'sh',
      '-c',
      'echo "a b"',
    ]);
  });
});

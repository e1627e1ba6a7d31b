import { describe, expect, it } from 'vitest';
import { ImportImageRequest, InstallRequest, LogsQuery } from './schemas.js';

describe('local API input schemas', () => {
  it('fills install defaults', () => {
    expect(InstallRequest.parse({ dir: '/rev' })).toEqual({
      dir: '/rev',
      strategy: 'stop-start',
      force: false,
      config: {},
      configVersion: 0,
    });
  });

  it.each([
    [{ dir: 'rel' }, 'dir'],
    [{ dir: '/rev', strategy: 'sideways' }, 'strategy'],
    [{ dir: '/rev', bakeSeconds: -1 }, 'bakeSeconds'],
    [{ dir: '/rev', extra: 1 }, ''],
    [{}, 'dir'],
  ])('refuses install %j naming "%s"', (input, path) => {
    const r = InstallRequest.safeParse(input);
    expect(r.success).toBe(false);
    expect(r.error?.issues[0]?.path.join('.')).toBe(path);
  });

  it('refuses a platform that is not linux/<arch>[/vN]', () => {
    expect(ImportImageRequest.safeParse({ ref: 'oci:/x', platform: 'windows/amd64' }).success).toBe(false);
    expect(ImportImageRequest.parse({ ref: 'oci:/x', platform: 'linux/arm/v7' }).platform).toBe(
      'linux/arm/v7',
    );
  });

  it('reads follow and tail from the query string', () => {
    expect(LogsQuery.parse({ follow: '1', tail: '100' })).toEqual({ follow: true, tail: 100 });
    expect(LogsQuery.parse({})).toEqual({ follow: false, tail: 65536 });
    expect(LogsQuery.safeParse({ tail: 'lots' }).success).toBe(false);
  });
});

import { describe, expect, it } from 'vitest';
import {
  envListToMap,
  mapHealthcheck,
  mapImageConfig,
  normaliseSignal,
  parseGroup,
  parsePasswd,
  resolveUser,
} from './config-map.js';

const PASSWD =
  'root:x:0:0:root:/root:/bin/sh\nwww:x:1000:1001:web:/www:/bin/sh\n# comment\nbroken line\nnobody:x:65534:65534::/:/bin/false\n';
const GROUP = 'root:x:0:\nwww:x:1001:\nstaff:x:50:www\nbad:x:notanumber:\n';

describe('passwd and group parsing', () => {
  it('reads valid lines and skips broken ones', () => {
    expect(parsePasswd(PASSWD).map((e) => [e.name, e.uid, e.gid])).toEqual([
      ['root', 0, 0],
      ['www', 1000, 1001],
      ['nobody', 65534, 65534],
    ]);
    expect(parseGroup(GROUP).map((e) => [e.name, e.gid])).toEqual([
      ['root', 0],
      ['www', 1001],
      ['staff', 50],
    ]);
  });
});

describe('user resolution', () => {
  it.each([
    [undefined, '0:0'],
    ['', '0:0'],
    ['www', '1000:1001'],
    ['1000', '1000:1001'],
    ['4242', '4242:0'],
    ['www:staff', '1000:50'],
    ['www:7', '1000:7'],
    ['0:staff', '0:50'],
  ])('User %j → %s', (user, want) => {
    expect(resolveUser(user, PASSWD, GROUP)).toBe(want);
  });

  it('names an unknown user and an unknown group', () => {
    expect(() => resolveUser('ghost', PASSWD, GROUP)).toThrow(
      `image User "ghost": no user "ghost" in the image's /etc/passwd`,
    );
    expect(() => resolveUser('www:ghosts', PASSWD, GROUP)).toThrow(
      `no group "ghosts" in the image's /etc/group`,
    );
    expect(() => resolveUser('www', null, null)).toThrow(/the image has no \/etc\/passwd/);
  });
});

describe('config mapping', () => {
  it('maps Entrypoint, Cmd, Env, WorkingDir, User, Volumes, StopSignal', () => {
    const m = mapImageConfig(
      {
        Entrypoint: ['/bin/httpd'],
        Cmd: ['-f'],
        Env: ['A=1', 'B=x=y', 'A=2', 'PATH=/bin'],
        WorkingDir: 'srv',
        User: 'www',
        Volumes: { '/data/': {}, logs: {} },
        StopSignal: 'QUIT',
        ExposedPorts: { '80/tcp': {} },
      },
      PASSWD,
      GROUP,
    );
    expect(m.start).toEqual({
      entrypoint: ['/bin/httpd'],
      cmd: ['-f'],
      env: { A: '2', B: 'x=y', PATH: '/bin' },
      cwd: '/srv',
      user: '1000:1001',
      stopSignal: 'SIGQUIT',
      stopTimeoutMs: 10000,
    });
    expect(m.volumes).toEqual(['/data', '/logs']);
    expect(m.exposedPorts).toEqual(['80/tcp']);
    expect(m.health).toBeUndefined();
  });

  it('adds the default PATH when the image sets none', () => {
    expect(mapImageConfig({ Cmd: ['sh'] }, null, null).start.env.PATH).toBe(
      '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
    );
  });

  it('refuses an image with neither Entrypoint nor Cmd', () => {
    expect(() => mapImageConfig({ Entrypoint: null, Cmd: [] }, null, null, 'oci:/x:latest')).toThrow(
      'oci:/x:latest has neither Entrypoint nor Cmd: nothing to run',
    );
    expect(() => mapImageConfig(null, null, null)).toThrow(/neither Entrypoint nor Cmd/);
  });

  it('refuses env names the start config cannot carry', () => {
    expect(() => mapImageConfig({ Cmd: ['x'], Env: ['1BAD=x'] }, null, null)).toThrow(
      /valid start config.*env/,
    );
  });

  it('splits env on the first "="', () => {
    expect(envListToMap(['X=a=b', 'Y', 'Z='])).toEqual({ X: 'a=b', Y: '', Z: '' });
  });
});

describe('stop signal', () => {
  it.each([
    [undefined, 'SIGTERM'],
    ['SIGINT', 'SIGINT'],
    ['term', 'SIGTERM'],
    ['9', 'SIGKILL'],
    ['SIGRTMIN+3', undefined],
  ])('%j → %j', (input, want) => {
    if (want === undefined) expect(() => normaliseSignal(input)).toThrow(/unknown signal/);
    else expect(normaliseSignal(input)).toBe(want);
  });
});

describe('healthcheck mapping', () => {
  it('maps CMD-SHELL through the shell and ns to ms', () => {
    expect(
      mapHealthcheck(
        {
          Test: ['CMD-SHELL', 'curl -f localhost || exit 1'],
          Interval: 5e9,
          Timeout: 1.5e9,
          StartPeriod: 2e9,
          Retries: 4,
        },
        null,
      ),
    ).toEqual({
      exec: ['/bin/sh', '-c', 'curl -f localhost || exit 1'],
      intervalMs: 5000,
      timeoutMs: 1500,
      retries: 4,
      startPeriodMs: 2000,
    });
  });
  it('maps CMD as argv, uses the image Shell and Docker defaults', () => {
    expect(mapHealthcheck({ Test: ['CMD', '/bin/check', '--quick'] }, null)).toEqual({
      exec: ['/bin/check', '--quick'],
      intervalMs: 30000,
      timeoutMs: 30000,
      retries: 3,
      startPeriodMs: 0,
    });
    expect(mapHealthcheck({ Test: ['CMD-SHELL', 'true'] }, ['/bin/ash', '-ec'])?.exec).toEqual([
      '/bin/ash',
      '-ec',
      'true',
    ]);
  });
  it('treats NONE and an empty test as no health check', () => {
    expect(mapHealthcheck({ Test: ['NONE'] }, null)).toBeUndefined();
    expect(mapHealthcheck({ Test: [] }, null)).toBeUndefined();
    expect(mapHealthcheck(null, null)).toBeUndefined();
  });
  it('refuses unknown test kinds', () => {
    expect(() => mapHealthcheck({ Test: ['EXEC', 'x'] }, null)).toThrow(/unknown test kind "EXEC"/);
  });
});

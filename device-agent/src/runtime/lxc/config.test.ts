import { ContainerSpec, type ContainerSpecInput } from '@fleet/protocol';
import { aContainer } from '@fleet/protocol/testing';
import { describe, expect, it } from 'vitest';
import { LOCK_DIR_IN_CONTAINER } from '../../update/locks.js';
import { FLEET_RUN_DIR, initArgv, launchArgv, renderLxcConfig, type LxcConfigInput } from './config.js';

const spec = (over: Partial<ContainerSpecInput> = {}) => ContainerSpec.parse(aContainer(over));
const input = (over: Partial<LxcConfigInput> = {}): LxcConfigInput => ({
  name: 'web',
  spec: spec({ start: { entrypoint: ['/bin/httpd'], cmd: ['-f'] } }),
  lowerDir: '/c/web/lower',
  upperDir: '/c/web/upper',
  volumes: [],
  devices: [],
  network: { mode: 'none' },
  consoleLog: '/c/web/console.log',
  consoleLogMaxBytes: 1024,
  lxcLog: '/c/web/lxc.log',
  ...over,
});
const lines = (cfg: string, key: string) =>
  cfg
    .split('\n')
    .filter((l) => l.startsWith(`${key} = `))
    .map((l) => l.slice(key.length + 3));

describe('renderLxcConfig', () => {
  it('puts a writable overlay over the read-only lower layer and mounts LXC init', () => {
    const cfg = renderLxcConfig(input());
    expect(lines(cfg, 'lxc.rootfs.path')).toEqual(['overlay:/c/web/lower:/c/web/upper']);
    expect(lines(cfg, 'lxc.mount.entry')).toContain(
      '/usr/sbin/init.lxc.static .fleet-init none bind,ro,create=file 0 0',
    );
    expect(lines(cfg, 'lxc.mount.auto')).toEqual(['proc:mixed sys:ro']);
    expect(lines(cfg, 'lxc.autodev')).toEqual(['1']);
  });

  it('maps the start config: user, cwd, env (PATH default, operator config last), stop signal', () => {
    const cfg = renderLxcConfig(
      input({
        spec: spec({
          start: {
            entrypoint: ['/app'],
            cmd: [],
            env: { A: 'x y', PATH: '/opt/bin' },
            cwd: '/srv',
            user: '1000:1001',
            stopSignal: 'SIGQUIT',
          },
          config: { A: 'from-operator' },
        }),
      }),
    );
    expect(lines(cfg, 'lxc.init.uid')).toEqual(['1000']);
    expect(lines(cfg, 'lxc.init.gid')).toEqual(['1001']);
    expect(lines(cfg, 'lxc.init.cwd')).toEqual(['/srv']);
    expect(lines(cfg, 'lxc.environment')).toEqual(['PATH=/opt/bin', 'A=from-operator']);
    expect(lines(cfg, 'lxc.signal.halt')).toEqual(['SIGQUIT']);
    expect(lines(cfg, 'lxc.init.cmd')).toEqual([]);
  });

  it('maps cgroup v1 limits and the device allow-list', () => {
    const cfg = renderLxcConfig(
      input({
        spec: spec({
          resources: { memoryBytes: '64M', cpuShares: 512, pids: 50 },
          devices: [{ path: '/dev/ttyS0' }],
        }),
        devices: [{ path: '/dev/ttyS0', type: 'c', major: 4, minor: 64, permissions: 'rw' }],
      }),
    );
    expect(lines(cfg, 'lxc.cgroup.memory.limit_in_bytes')).toEqual(['67108864']);
    expect(lines(cfg, 'lxc.cgroup.cpu.shares')).toEqual(['512']);
    expect(lines(cfg, 'lxc.cgroup.pids.max')).toEqual(['50']);
    expect(lines(cfg, 'lxc.cgroup.devices.deny')).toEqual(['a']);
    expect(lines(cfg, 'lxc.cgroup.devices.allow')).toContain('c 4:64 rw');
    expect(lines(cfg, 'lxc.mount.entry')).toContain(
      '/dev/ttyS0 dev/ttyS0 none bind,optional,create=file 0 0',
    );
  });

  it('drops LXC default capabilities plus the asked ones, or keeps only the listed ones', () => {
    const drop = renderLxcConfig(input({ spec: spec({ capabilities: { drop: ['NET_RAW'], keep: [] } }) }));
    expect(lines(drop, 'lxc.cap.drop')).toEqual([
      'mac_admin mac_override sys_time sys_module sys_rawio net_raw',
    ]);
    const keep = renderLxcConfig(
      input({ spec: spec({ capabilities: { drop: [], keep: ['CAP_NET_BIND_SERVICE', 'CHOWN'] } }) }),
    );
    expect(lines(keep, 'lxc.cap.keep')).toEqual(['net_bind_service chown']);
    expect(lines(keep, 'lxc.cap.drop')).toEqual([]);
    const priv = renderLxcConfig(input({ spec: spec({ privileged: true }) }));
    expect(lines(priv, 'lxc.cap.drop')).toEqual([]);
    expect(lines(priv, 'lxc.cgroup.devices.allow')).toEqual(['a']);
  });

  it('maps volumes to bind mounts (read-only when asked) and tmpfs', () => {
    const cfg = renderLxcConfig(
      input({
        volumes: [
          {
            containerPath: '/var/lib/app',
            source: { kind: 'bind', hostPath: '/data/vol/app' },
            readOnly: false,
          },
          { containerPath: '/etc/app', source: { kind: 'bind', hostPath: '/data/vol/conf' }, readOnly: true },
          { containerPath: '/run/x', source: { kind: 'tmpfs', sizeBytes: 4096 }, readOnly: false },
        ],
      }),
    );
    expect(lines(cfg, 'lxc.mount.entry')).toEqual(
      expect.arrayContaining([
        '/data/vol/app var/lib/app none bind,create=dir 0 0',
        '/data/vol/conf etc/app none bind,create=dir,ro 0 0',
        'tmpfs run/x tmpfs rw,nosuid,nodev,mode=1777,create=dir,size=4096 0 0',
      ]),
    );
  });

  it('maps the three network modes', () => {
    const none = renderLxcConfig(input());
    expect(lines(none, 'lxc.net.0.type')).toEqual(['empty']);
    expect(lines(none, 'lxc.net.0.flags')).toEqual(['up']);
    expect(lines(renderLxcConfig(input({ network: { mode: 'host' } })), 'lxc.net.0.type')).toEqual(['none']);
    const br = renderLxcConfig(
      input({
        network: { mode: 'bridge', bridge: 'fleet0', addressCidr: '10.1.0.5/24', gateway: '10.1.0.1' },
      }),
    );
    expect(lines(br, 'lxc.net.0.type')).toEqual(['veth']);
    expect(lines(br, 'lxc.net.0.link')).toEqual(['fleet0']);
    expect(lines(br, 'lxc.net.0.ipv4.address')).toEqual(['10.1.0.5/24']);
    expect(lines(br, 'lxc.net.0.ipv4.gateway')).toEqual(['10.1.0.1']);
  });

  it('uses the spec hostname, else the manifest name, else the container name', () => {
    expect(lines(renderLxcConfig(input()), 'lxc.uts.name')).toEqual(['web']);
    expect(
      lines(renderLxcConfig(input({ name: 'web-0123456789ab', hostname: 'web' })), 'lxc.uts.name'),
    ).toEqual(['web']);
    expect(
      lines(renderLxcConfig(input({ hostname: 'web', spec: spec({ hostname: 'edge-1' }) })), 'lxc.uts.name'),
    ).toEqual(['edge-1']);
  });

  it('mounts the update lock directory at /run/fleet after the volumes above it', () => {
    expect(FLEET_RUN_DIR).toBe(LOCK_DIR_IN_CONTAINER);
    const cfg = renderLxcConfig(
      input({
        runDir: '/data/locks/web',
        volumes: [
          {
            containerPath: '/run/fleet/sub',
            source: { kind: 'bind', hostPath: '/data/vol/sub' },
            readOnly: false,
          },
          { containerPath: '/run/', source: { kind: 'tmpfs' }, readOnly: false },
          {
            containerPath: '/var/lib/app',
            source: { kind: 'bind', hostPath: '/data/vol/app' },
            readOnly: false,
          },
        ],
      }),
    );
    const mounts = lines(cfg, 'lxc.mount.entry').filter((l) => !l.includes('.fleet-init'));
    expect(mounts).toEqual([
      'tmpfs run/ tmpfs rw,nosuid,nodev,mode=1777,create=dir 0 0',
      '/data/locks/web run/fleet none bind,create=dir 0 0',
      '/data/vol/sub run/fleet/sub none bind,create=dir 0 0',
      '/data/vol/app var/lib/app none bind,create=dir 0 0',
    ]);
    expect(lines(renderLxcConfig(input()), 'lxc.mount.entry').some((l) => l.includes('run/fleet'))).toBe(
      false,
    );
  });

  it('refuses a volume at /run/fleet and a bad lock directory', () => {
    expect(() =>
      renderLxcConfig(
        input({
          runDir: '/data/locks/web',
          volumes: [{ containerPath: '/run//fleet/', source: { kind: 'tmpfs' }, readOnly: false }],
        }),
      ),
    ).toThrow(/volume path \/run\/\/fleet\/: \/run\/fleet is reserved for the agent/);
    expect(() => renderLxcConfig(input({ runDir: 'locks/web' }))).toThrow(
      /update lock directory: must be an absolute path/,
    );
  });

  it('refuses values that would inject config lines or break mount entries', () => {
    expect(() =>
      renderLxcConfig(input({ spec: spec({ start: { cmd: ['x'], env: { A: 'ok\nlxc.cap.drop =' } } }) })),
    ).toThrow(/start.env.A: must not contain a newline/);
    expect(() =>
      renderLxcConfig(
        input({
          volumes: [{ containerPath: '/v', source: { kind: 'bind', hostPath: '/my data' }, readOnly: false }],
        }),
      ),
    ).toThrow(/must not contain whitespace/);
    expect(() =>
      renderLxcConfig(
        input({
          volumes: [{ containerPath: '/v', source: { kind: 'bind', hostPath: 'relative' }, readOnly: false }],
        }),
      ),
    ).toThrow(/must be an absolute path/);
    expect(() => renderLxcConfig(input({ lowerDir: '/a/../b' }))).toThrow(/must not contain "\.\."/);
  });
});

describe('argv', () => {
  it('is entrypoint then cmd, behind LXC init', () => {
    const s = spec({ start: { entrypoint: ['/bin/sh', '-c'], cmd: ['echo "a b"'] } });
    expect(initArgv(s)).toEqual(['/bin/sh', '-c', 'echo "a b"']);
    expect(launchArgv('web', initArgv(s))).toEqual([
      '/.fleet-init',
      '-q',
      '-n',
      'web',
      '--',
      '/bin/sh',
      '-c',
      'echo "a b"',
    ]);
  });
});

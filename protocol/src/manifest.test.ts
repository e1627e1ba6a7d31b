import { describe, expect, it } from 'vitest';
import {
  compareSemver,
  manifestObjects,
  parseContainerSpec,
  parseReleaseManifest,
  parseRevisionManifest,
} from './manifest.js';
import { aContainer, aRelease, aRevision, hexDigest } from './testing/builders.js';

describe('revision manifest', () => {
  it('accepts a minimal manifest and fills defaults', () => {
    const r = parseRevisionManifest(aRevision());
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    const web = r.value.containers.web!;
    expect(web.group).toBe('app');
    expect(web.restart).toEqual({ policy: 'always', maxRetries: 5, backoffMs: 1000 });
    expect(web.start.user).toBe('0:0');
    expect(web.network).toBe('none');
    expect(r.value.signatures).toEqual([]);
  });

  it('parses sizes such as 64M to bytes and parsing its own output again is the identity', () => {
    const r = parseRevisionManifest(
      aRevision({
        containers: {
          web: aContainer({
            resources: { memoryBytes: '64M', pids: 64 },
            volumes: [{ name: 'data', path: '/data', persistence: 'permanent', sizeBytes: '1.5G' }],
          }),
        },
      }),
    );
    expect(r.ok && r.value.containers.web?.resources.memoryBytes).toBe(64 * 1024 * 1024);
    expect(r.ok && r.value.containers.web?.volumes[0]?.sizeBytes).toBe(1.5 * 1024 ** 3);
    if (!r.ok) return;
    const again = parseRevisionManifest(JSON.parse(JSON.stringify(r.value)));
    expect(again.ok && again.value).toEqual(r.value);
  });

  it('normalises capabilities written with a CAP_ prefix', () => {
    const r = parseContainerSpec(aContainer({ capabilities: { drop: ['CAP_SYS_ADMIN', 'NET_RAW'] } }));
    expect(r.ok && r.value.capabilities.drop).toEqual(['SYS_ADMIN', 'NET_RAW']);
  });

  it('accepts published ports on a bridge container, tcp by default, and leaves specs without ports as they were', () => {
    const r = parseContainerSpec(
      aContainer({
        network: 'bridge',
        ports: [
          { host: 8080, container: 80 },
          { host: 5353, container: 53, protocol: 'udp' },
        ],
      }),
    );
    expect(r.ok && r.value.ports).toEqual([
      { host: 8080, container: 80, protocol: 'tcp' },
      { host: 5353, container: 53, protocol: 'udp' },
    ]);
    // No `ports` key at all when none are given: a spec's canonical JSON (and so its instance
    // name) is the same as before the field existed.
    const plain = parseContainerSpec(aContainer());
    expect(plain.ok && 'ports' in plain.value).toBe(false);
    // The same port number over tcp and udp is two mappings.
    const both = parseContainerSpec(
      aContainer({
        network: 'bridge',
        ports: [
          { host: 53, container: 53 },
          { host: 53, container: 53, protocol: 'udp' },
        ],
      }),
    );
    expect(both.ok).toBe(true);
  });

  // Each malformed manifest must be refused with an error naming the JSON path of the problem.
  const malformed: [string, unknown, string, RegExp][] = [
    [
      'ports on a host-network container',
      aRevision({
        containers: { web: aContainer({ network: 'host', ports: [{ host: 80, container: 80 }] }) },
      }),
      '$.containers.web.ports',
      /need network "bridge"/,
    ],
    [
      'ports on a container without network',
      aRevision({ containers: { web: aContainer({ ports: [{ host: 80, container: 80 }] }) } }),
      '$.containers.web.ports',
      /need network "bridge"/,
    ],
    [
      'port 0',
      aRevision({
        containers: { web: aContainer({ network: 'bridge', ports: [{ host: 0, container: 80 }] }) },
      }),
      '$.containers.web.ports[0].host',
      /./,
    ],
    [
      'port above 65535',
      aRevision({
        containers: { web: aContainer({ network: 'bridge', ports: [{ host: 80, container: 65_536 }] }) },
      }),
      '$.containers.web.ports[0].container',
      /./,
    ],
    [
      'fractional port',
      aRevision({
        containers: { web: aContainer({ network: 'bridge', ports: [{ host: 80.5, container: 80 }] }) },
      }),
      '$.containers.web.ports[0].host',
      /./,
    ],
    [
      'unknown port protocol',
      aRevision({
        containers: {
          web: aContainer({
            network: 'bridge',
            ports: [{ host: 80, container: 80, protocol: 'sctp' as 'tcp' }],
          }),
        },
      }),
      '$.containers.web.ports[0].protocol',
      /./,
    ],
    [
      'unknown key in a port',
      aRevision({
        containers: {
          web: aContainer({
            network: 'bridge',
            ports: [{ host: 80, container: 80, hostIp: '0.0.0.0' } as never],
          }),
        },
      }),
      '$.containers.web.ports[0]',
      /hostIp/,
    ],
    [
      'empty ports list',
      aRevision({ containers: { web: aContainer({ network: 'bridge', ports: [] }) } }),
      '$.containers.web.ports',
      /./,
    ],
    [
      'a host port twice in one container',
      aRevision({
        containers: {
          web: aContainer({
            network: 'bridge',
            ports: [
              { host: 80, container: 80 },
              { host: 80, container: 8080 },
            ],
          }),
        },
      }),
      '$.containers.web.ports[1].host',
      /duplicates ports\[0\] \(80\/tcp\)/,
    ],
    [
      'a host port published by two containers',
      aRevision({
        containers: {
          api: aContainer({ network: 'bridge', ports: [{ host: 80, container: 80 }] }),
          web: aContainer({ network: 'bridge', ports: [{ host: 80, container: 8080 }] }),
        },
      }),
      '$.containers.web.ports[0].host',
      /80\/tcp is already published by container "api"/,
    ],
    ['not an object', 'hello', '$', /object/i],
    [
      'wrong spec',
      aRevision({ spec: 'fleet-revision@2' as 'fleet-revision@1' }),
      '$.spec',
      /fleet-revision@1/,
    ],
    ['unknown top-level key', { ...aRevision(), extra: 1 }, '$', /extra/],
    ['bad container name', aRevision({ containers: { Web_1: aContainer() } }), '$.containers.Web_1', /a-z/],
    [
      'bad rootfs digest',
      aRevision({ containers: { web: aContainer({ rootfs: { digest: 'sha256:abc', size: 1 } }) } }),
      '$.containers.web.rootfs.digest',
      /64/,
    ],
    [
      'upper-case digest',
      aRevision({
        containers: { web: aContainer({ rootfs: { digest: `sha256:${'A'.repeat(64)}`, size: 1 } }) },
      }),
      '$.containers.web.rootfs.digest',
      /lower-case/,
    ],
    [
      'negative object size',
      aRevision({ containers: { web: aContainer({ rootfs: { digest: hexDigest('c'), size: -1 } }) } }),
      '$.containers.web.rootfs.size',
      /./,
    ],
    [
      'image digest md5',
      aRevision({ containers: { web: aContainer({ image: { ref: 'x', digest: 'md5:00' } }) } }),
      '$.containers.web.image.digest',
      /sha256/,
    ],
    [
      'nothing to run',
      aRevision({ containers: { web: aContainer({ start: {} }) } }),
      '$.containers.web.start',
      /entrypoint or a cmd/,
    ],
    [
      'relative cwd',
      aRevision({ containers: { web: aContainer({ start: { cmd: ['x'], cwd: 'srv' } }) } }),
      '$.containers.web.start.cwd',
      /absolute/,
    ],
    [
      'user name instead of ids',
      aRevision({ containers: { web: aContainer({ start: { cmd: ['x'], user: 'www-data' } }) } }),
      '$.containers.web.start.user',
      /uid:gid/,
    ],
    [
      'bad env name',
      aRevision({ containers: { web: aContainer({ start: { cmd: ['x'], env: { 'A-B': '1' } } }) } }),
      '$.containers.web.start.env["A-B"]',
      /environment variable/,
    ],
    [
      'bad stop signal',
      aRevision({ containers: { web: aContainer({ start: { cmd: ['x'], stopSignal: 'TERM' } }) } }),
      '$.containers.web.start.stopSignal',
      /SIGTERM/,
    ],
    [
      'bad size text',
      aRevision({ containers: { web: aContainer({ resources: { memoryBytes: '64 parsecs' } }) } }),
      '$.containers.web.resources.memoryBytes',
      /not a size/,
    ],
    [
      'bad restart policy',
      aRevision({ containers: { web: aContainer({ restart: { policy: 'sometimes' as 'always' } }) } }),
      '$.containers.web.restart.policy',
      /./,
    ],
    [
      'ready without health',
      aRevision({ containers: { web: aContainer({ statusGoal: 'ready' }) } }),
      '$.containers.web.health',
      /required/,
    ],
    [
      'empty health exec',
      aRevision({ containers: { web: aContainer({ health: { exec: [] } }) } }),
      '$.containers.web.health.exec',
      /command/,
    ],
    [
      'bad network',
      aRevision({ containers: { web: aContainer({ network: 'wifi' as 'none' }) } }),
      '$.containers.web.network',
      /./,
    ],
    [
      'keep and drop',
      aRevision({
        containers: { web: aContainer({ capabilities: { keep: ['CHOWN'], drop: ['NET_RAW'] } }) },
      }),
      '$.containers.web.capabilities',
      /either keep or drop/,
    ],
    [
      'bad capability',
      aRevision({ containers: { web: aContainer({ capabilities: { drop: ['net raw'] } }) } }),
      '$.containers.web.capabilities.drop[0]',
      /capability/,
    ],
    [
      'relative volume path',
      aRevision({
        containers: { web: aContainer({ volumes: [{ name: 'd', path: 'data', persistence: 'permanent' }] }) },
      }),
      '$.containers.web.volumes[0].path',
      /absolute/,
    ],
    [
      'unnormalised volume path',
      aRevision({
        containers: {
          web: aContainer({ volumes: [{ name: 'd', path: '/a/../etc', persistence: 'permanent' }] }),
        },
      }),
      '$.containers.web.volumes[0].path',
      /normalised/,
    ],
    [
      'volume on /proc',
      aRevision({
        containers: {
          web: aContainer({ volumes: [{ name: 'd', path: '/proc/x', persistence: 'permanent' }] }),
        },
      }),
      '$.containers.web.volumes[0].path',
      /proc/,
    ],
    [
      'volume on root',
      aRevision({
        containers: { web: aContainer({ volumes: [{ name: 'd', path: '/', persistence: 'permanent' }] }) },
      }),
      '$.containers.web.volumes[0].path',
      /must not be \//,
    ],
    [
      'duplicate volume name',
      aRevision({
        containers: {
          web: aContainer({
            volumes: [
              { name: 'd', path: '/a', persistence: 'permanent' },
              { name: 'd', path: '/b', persistence: 'boot' },
            ],
          }),
        },
      }),
      '$.containers.web.volumes[1].name',
      /duplicates/,
    ],
    [
      'overlapping volume paths',
      aRevision({
        containers: {
          web: aContainer({
            volumes: [
              { name: 'a', path: '/var/lib', persistence: 'permanent' },
              { name: 'b', path: '/var/lib/app', persistence: 'boot' },
            ],
          }),
        },
      }),
      '$.containers.web.volumes[1].path',
      /overlaps volumes\[0\]/,
    ],
    [
      'bad persistence',
      aRevision({
        containers: {
          web: aContainer({ volumes: [{ name: 'a', path: '/a', persistence: 'forever' as 'boot' }] }),
        },
      }),
      '$.containers.web.volumes[0].persistence',
      /./,
    ],
    [
      'device outside /dev',
      aRevision({ containers: { web: aContainer({ devices: [{ path: '/etc/passwd' }] }) } }),
      '$.containers.web.devices[0].path',
      /\/dev/,
    ],
    [
      'device twice',
      aRevision({
        containers: { web: aContainer({ devices: [{ path: '/dev/ttyS0' }, { path: '/dev/ttyS0' }] }) },
      }),
      '$.containers.web.devices[1].path',
      /twice/,
    ],
    [
      'same hostname twice',
      aRevision({
        containers: { web: aContainer({ hostname: 'box' }), api: aContainer({ hostname: 'box' }) },
      }),
      '$.containers',
      /already the hostname/,
    ],
    [
      'bad signature entry',
      aRevision({ signatures: [{ keyId: 'xyz', alg: 'ed25519', sig: 'AA==' }] }),
      '$.signatures[0].keyId',
      /16/,
    ],
    [
      'kernel with bad digest',
      aRevision({ system: { kernel: { digest: 'sha256:zz', size: 1 } } }),
      '$.system.kernel.digest',
      /64/,
    ],
    [
      'rootfs without ab slot',
      aRevision({ system: { rootfs: { digest: hexDigest('d'), size: 1, slot: 'c' as 'ab' } } }),
      '$.system.rootfs.slot',
      /./,
    ],
  ];

  it.each(malformed)('refuses %s, naming the path', (_name, input, path, message) => {
    const r = parseRevisionManifest(input);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.error.name).toBe('ProtocolError');
    const issue = r.error.issues.find((i) => i.path.startsWith(path));
    expect(issue, JSON.stringify(r.error.issues)).toBeDefined();
    expect(`${issue?.path} ${issue?.message}`).toMatch(message);
    expect(r.error.message).toContain(issue!.path);
  });
});

describe('release manifest', () => {
  it('accepts a release', () => {
    const r = parseReleaseManifest(aRelease({ version: '2.1.0-rc.1+build.5', minAgentVersion: '1.2.0' }));
    expect(r.ok).toBe(true);
  });

  const malformed: [string, unknown, string, RegExp][] = [
    ['revision spec in a release', { ...aRelease(), spec: 'fleet-revision@1' }, '$.spec', /fleet-release@1/],
    ['bad version', aRelease({ version: 'v1' }), '$.version', /semantic version/],
    ['leading zero version', aRelease({ version: '01.0.0' }), '$.version', /semantic version/],
    ['zero sequence', aRelease({ sequence: 0 }), '$.sequence', /./],
    ['fractional sequence', aRelease({ sequence: 1.5 }), '$.sequence', /./],
    ['no compatible boards', aRelease({ compatibleBoards: [] }), '$.compatibleBoards', /./],
    [
      'board not compatible',
      aRelease({ compatibleBoards: ['raspberrypi4-64'] }),
      '$.compatibleBoards',
      /qemu-aarch64/,
    ],
    [
      'board listed twice',
      aRelease({ compatibleBoards: ['qemu-aarch64', 'qemu-aarch64'] }),
      '$.compatibleBoards[1]',
      /twice/,
    ],
    [
      'bad minimum agent version',
      aRelease({ minAgentVersion: 'latest' }),
      '$.minAgentVersion',
      /semantic version/,
    ],
  ];

  it.each(malformed)('refuses %s, naming the path', (_name, input, path, message) => {
    const r = parseReleaseManifest(input);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    const issue = r.error.issues.find((i) => i.path.startsWith(path));
    expect(issue, JSON.stringify(r.error.issues)).toBeDefined();
    expect(`${issue?.path} ${issue?.message}`).toMatch(message);
  });

  it('lists every referenced object once, sorted', () => {
    const r = parseReleaseManifest(
      aRelease({
        containers: {
          web: aContainer(),
          api: aContainer(),
          db: aContainer({ rootfs: { digest: hexDigest('0'), size: 5 } }),
        },
        system: { kernel: { digest: hexDigest('e'), size: 7 } },
      }),
    );
    if (!r.ok) throw r.error;
    expect(manifestObjects(r.value).map((o) => o.digest)).toEqual([
      hexDigest('0'),
      hexDigest('b'),
      hexDigest('e'),
    ]);
  });
});

describe('compareSemver', () => {
  it.each([
    ['1.0.0', '1.0.0', 0],
    ['1.0.0', '1.0.1', -1],
    ['1.10.0', '1.9.9', 1],
    ['1.0.0-alpha', '1.0.0', -1],
    ['1.0.0-alpha', '1.0.0-alpha.1', -1],
    ['1.0.0-alpha.beta', '1.0.0-beta', -1],
    ['1.0.0-beta.2', '1.0.0-beta.11', -1],
    ['1.0.0-rc.1', '1.0.0-beta.11', 1],
    ['1.0.0+a', '1.0.0+b', 0],
  ])('%s vs %s = %d', (a, b, want) => {
    expect(compareSemver(a, b)).toBe(want);
    expect(compareSemver(b, a)).toBe(-want || 0);
  });
});

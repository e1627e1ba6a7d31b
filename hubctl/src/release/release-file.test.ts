import { manifestObjects } from '@fleet/protocol';
import { describe, expect, it } from 'vitest';
import {
  checkManifest,
  jsonPathSegments,
  manifestInput,
  parseReleaseFile,
  ReleaseFileError,
  resolveImageRef,
  type ConvertedImage,
} from './release-file.js';

const WEB: ConvertedImage = {
  image: { ref: 'oci:/imgs/web:latest', digest: `sha256:${'a'.repeat(64)}` },
  rootfs: {
    digest: `sha256:${'b'.repeat(64)}`,
    size: 4096,
    mediaType: 'application/vnd.fleet.rootfs.squashfs',
  },
  start: {
    entrypoint: ['/bin/busybox', 'httpd', '-f'],
    cmd: ['-p', '8080'],
    env: { PATH: '/bin', GREETING: 'hi' },
    cwd: '/www',
    user: '1000:1000',
    stopSignal: 'SIGTERM',
    stopTimeoutMs: 10_000,
  },
  health: {
    exec: ['/bin/sh', '-c', 'wget -q -O /dev/null http://127.0.0.1:8080/'],
    intervalMs: 5000,
    timeoutMs: 2000,
    retries: 3,
    startPeriodMs: 1000,
  },
};
const SIDE: ConvertedImage = {
  ...WEB,
  image: { ...WEB.image, ref: 'oci:/imgs/side' },
  rootfs: { ...WEB.rootfs, digest: `sha256:${'c'.repeat(64)}` },
  start: { ...WEB.start, env: {} },
};
delete (SIDE as { health?: unknown }).health;

function issuesOf(f: () => unknown): string[] {
  try {
    f();
  } catch (e) {
    if (e instanceof ReleaseFileError)
      return e.message
        .split('\n')
        .slice(1)
        .map((l) => l.trim());
    throw e;
  }
  throw new Error('expected a ReleaseFileError');
}

const GOOD = `version: 1.4.0
notes: faster web
boards: [qemu-aarch64, raspberrypi4-64]
minAgentVersion: 0.2.0
containers:
  web:
    image: ./web
    restart: { policy: on-failure, maxRetries: 3 }
    resources: { memoryBytes: 64M }
    network: bridge
    start:
      env: { MODE: prod, GREETING: hello }
      user: "0:0"
    volumes:
      - { name: data, path: /var/lib/data, persistence: permanent }
  side:
    image: registry.example/side:1
    group: platform
    health: null
`;

describe('release.yaml → ReleaseManifest', () => {
  it('maps every setting, merges start over the image and keeps the image health check', () => {
    const parsed = parseReleaseFile(GOOD, 'release.yaml');
    const m = checkManifest(
      parsed,
      'release.yaml',
      manifestInput(parsed.release, { web: WEB, side: SIDE }, 7),
    );
    expect(m).toMatchObject({
      spec: 'fleet-release@1',
      release: '1.4.0',
      version: '1.4.0',
      notes: 'faster web',
      board: 'qemu-aarch64',
      compatibleBoards: ['qemu-aarch64', 'raspberrypi4-64'],
      minAgentVersion: '0.2.0',
      sequence: 7,
    });
    const web = m.containers.web!;
    expect(web.image).toEqual(WEB.image);
    expect(web.rootfs).toEqual(WEB.rootfs);
    expect(web.start).toEqual({
      ...WEB.start,
      user: '0:0',
      env: { PATH: '/bin', GREETING: 'hello', MODE: 'prod' },
    });
    expect(web.health).toEqual(WEB.health);
    expect(web.restart).toEqual({ policy: 'on-failure', maxRetries: 3, backoffMs: 1000 });
    expect(web.resources.memoryBytes).toBe(64 * 1024 * 1024);
    expect(web.network).toBe('bridge');
    expect(web.volumes).toEqual([
      { name: 'data', path: '/var/lib/data', persistence: 'permanent', readOnly: false },
    ]);
    expect(m.containers.side).toMatchObject({ group: 'platform', network: 'none' });
    expect(m.containers.side!.health).toBeUndefined();
    expect(manifestObjects(m).map((o) => o.digest)).toEqual([WEB.rootfs.digest, SIDE.rootfs.digest]);
  });

  it('uses `board:` when given and drops the image health check on `health: null`', () => {
    const parsed = parseReleaseFile(
      'version: 1.0.0\nboard: raspberrypi4-64\nboards: [qemu-aarch64, raspberrypi4-64]\ncontainers:\n  web: { image: ./web, health: null }\n',
      'r.yaml',
    );
    const m = checkManifest(parsed, 'r.yaml', manifestInput(parsed.release, { web: WEB }, 1));
    expect(m.board).toBe('raspberrypi4-64');
    expect(m.containers.web!.health).toBeUndefined();
  });

  it('names line and column of malformed YAML', () => {
    expect(
      issuesOf(() =>
        parseReleaseFile(
          'version: 1.0.0\nboards: [qemu-aarch64\ncontainers:\n  web: { image: x }\n',
          'bad.yaml',
        ),
      )[0],
    ).toMatch(/^bad\.yaml:\d+:\d+: \S/);
    expect(
      issuesOf(() =>
        parseReleaseFile('version: 1.0.0\nversion: 1.0.1\nboards: [a]\ncontainers: {}\n', 'dup.yaml'),
      ),
    ).toEqual([expect.stringMatching(/^dup\.yaml:2:1: Map keys must be unique/)]);
  });

  it('names the line of a missing or mistyped field of the file', () => {
    const issues = issuesOf(() =>
      parseReleaseFile(
        'version: 1.0.0\nboards: qemu-aarch64\ncontainers:\n  web:\n    platform: arm64\n',
        'r.yaml',
      ),
    );
    expect(issues).toEqual([
      expect.stringMatching(/^r\.yaml:2:9: boards: /),
      expect.stringMatching(/^r\.yaml:5:5: containers\.web\.image: is required/),
      expect.stringMatching(/^r\.yaml:5:15: containers\.web\.platform: must be os\/arch/),
    ]);
    expect(
      issuesOf(() =>
        parseReleaseFile('version: 1.0.0\nboards: [a]\ncontainers: {}\nsequnce: 3\n', 'r.yaml'),
      )[0],
    ).toMatch(/^r\.yaml:1:1: Unrecognized key: "sequnce"/);
  });

  it("points protocol's findings back at the file's lines, with the file's names", () => {
    const text =
      'version: one\nboards: [Bad_Board]\ncontainers:\n  web:\n    image: ./web\n    restart:\n      policy: sometimes\n    volumes:\n      - { name: data, path: relative/path, persistence: permanent }\n    unknownSetting: 1\n';
    const parsed = parseReleaseFile(text, 'r.yaml');
    const issues = issuesOf(() =>
      checkManifest(parsed, 'r.yaml', manifestInput(parsed.release, { web: WEB }, 1)),
    );
    expect(issues).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^r\.yaml:1:10: version: must be a semantic version/),
        expect.stringMatching(/^r\.yaml:2:10: boards\[0\]: must be a board name/),
        expect.stringMatching(/^r\.yaml:7:15: containers\.web\.restart\.policy: /),
        expect.stringMatching(/^r\.yaml:9:29: containers\.web\.volumes\[0\]\.path: must be an absolute path/),
        expect.stringMatching(/^r\.yaml:5:5: containers\.web: Unrecognized key: "unknownSetting"/),
      ]),
    );
    expect(issues).toHaveLength(5);
  });

  it('reads JSON paths back into segments', () => {
    expect(jsonPathSegments('$.containers.web.volumes[0].path')).toEqual([
      'containers',
      'web',
      'volumes',
      0,
      'path',
    ]);
    expect(jsonPathSegments('$.containers["odd.name"]')).toEqual(['containers', 'odd.name']);
    expect(jsonPathSegments('$')).toEqual([]);
  });
});

describe('image references', () => {
  const kinds: Record<string, 'directory' | 'file'> = {
    '/rel/layout': 'directory',
    '/rel/web.tar': 'file',
    '/abs/layout': 'directory',
  };
  const kindOf = (p: string) => kinds[p] ?? 'missing';

  it('makes local paths absolute against the release file and picks the transport by what is there', () => {
    expect(resolveImageRef('./layout', '/rel', kindOf)).toEqual({ ref: 'oci:/rel/layout' });
    expect(resolveImageRef('./web.tar', '/rel', kindOf)).toEqual({ ref: 'docker-archive:/rel/web.tar' });
    expect(resolveImageRef('/abs/layout', '/rel', kindOf)).toEqual({ ref: 'oci:/abs/layout' });
    expect(resolveImageRef('./nothing', '/rel', kindOf)).toEqual({
      error: expect.stringContaining('/rel/nothing does not exist'),
    });
  });

  it('keeps explicit transports (resolving their paths) and registry references as they are', () => {
    expect(resolveImageRef('oci:layout:v2', '/rel', kindOf)).toEqual({ ref: 'oci:/rel/layout:v2' });
    expect(resolveImageRef('oci:../x/layout', '/rel', kindOf)).toEqual({ ref: 'oci:/x/layout' });
    expect(resolveImageRef('docker-archive:web.tar:fleet/web:1', '/rel', kindOf)).toEqual({
      ref: 'docker-archive:/rel/web.tar:fleet/web:1',
    });
    expect(resolveImageRef('registry.example:5000/web:1', '/rel', kindOf)).toEqual({
      ref: 'registry.example:5000/web:1',
    });
    expect(resolveImageRef('docker://registry.example/web@sha256:' + 'a'.repeat(64), '/rel', kindOf)).toEqual(
      { ref: 'docker://registry.example/web@sha256:' + 'a'.repeat(64) },
    );
  });
});

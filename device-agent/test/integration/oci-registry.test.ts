import * as fs from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { importImage, isOciError, openImageSource, parsePlatform } from '../../src/oci/index.js';
import {
  buildBusyboxImage,
  hostArchitecture,
  tarLayer,
  writeOciLayout,
  type OciLayoutImage,
} from './helpers/oci-image.js';
import { push, startRegistry, USER, type TestRegistry } from './helpers/oci-registry.js';
import { run } from './helpers/oci-image.js';

let work: string;
let registry: TestRegistry;
let image: OciLayoutImage;
let layoutDigest: string;
const platform = `linux/${hostArchitecture()}`;

beforeAll(async () => {
  work = await fs.mkdtemp(join(tmpdir(), 'fleet-oci-registry-'));
  registry = await startRegistry(join(work, 'registry'));
  image = await buildBusyboxImage(join(work, 'img'));
  layoutDigest = (
    await importImage(image.ref, { platform, workDir: join(work, 'w'), outputDir: join(work, 'out-layout') })
  ).rootfs.digest;
  await push(image.ref, `${registry.host}/public/httpd:v1`);
  await push(image.ref, `${registry.host}/private/httpd:v1`);
});
afterAll(async () => {
  await registry?.stop();
  await fs.rm(work, { recursive: true, force: true });
});

describe('importImage from a registry (docker-registry with token auth)', () => {
  it('pulls anonymously through the Bearer token flow and gives the same rootfs as the layout', async () => {
    const before = registry.tokenRequests.length;
    const out = await importImage(`${registry.host}/public/httpd:v1`, {
      platform,
      workDir: join(work, 'w'),
      outputDir: join(work, 'out-reg'),
      registry: { plainHttp: true },
    });
    expect(out.rootfs.digest).toBe(layoutDigest);
    expect(out.image.ref).toBe(`docker://${registry.host}/public/httpd:v1`);
    expect(out.start.user).toBe('1000:1000');
    expect(registry.tokenRequests.slice(before)).toEqual([
      { authorized: false, scope: 'repository:public/httpd:pull' },
    ]);
  });

  it('pulls by digest', async () => {
    const src = openImageSource(`${registry.host}/public/httpd:v1`, { plainHttp: true });
    const { digest } = await src.resolve(parsePlatform(platform));
    const out = await importImage(`${registry.host}/public/httpd@${digest}`, {
      platform,
      workDir: join(work, 'w'),
      outputDir: join(work, 'out-dig'),
      registry: { plainHttp: true },
    });
    expect(out.image.digest).toBe(digest);
    expect(out.rootfs.digest).toBe(layoutDigest);
  });

  it('a private repository needs credentials: anonymous is refused clearly, basic credentials work', async () => {
    const err = await importImage(`${registry.host}/private/httpd:v1`, {
      platform,
      workDir: join(work, 'w'),
      outputDir: join(work, 'out-priv'),
      registry: { plainHttp: true },
    }).catch((e: unknown) => e);
    expect(isOciError(err, 'registry')).toBe(true);
    expect((err as Error).message).toMatch(/private\/httpd:v1: manifest v1: 401 Unauthorized/);
    expect(await fs.readdir(join(work, 'w'))).toEqual([]);

    const bad = await importImage(`${registry.host}/private/httpd:v1`, {
      platform,
      workDir: join(work, 'w'),
      outputDir: join(work, 'out-priv'),
      registry: { plainHttp: true, credentials: { username: 'fleet', password: 'wrong' } },
    }).catch((e: unknown) => e);
    expect((bad as Error).message).toMatch(
      /token service refused \(401 Unauthorized\) for the given credentials/,
    );

    const before = registry.tokenRequests.length;
    const out = await importImage(`${registry.host}/private/httpd:v1`, {
      platform,
      workDir: join(work, 'w'),
      outputDir: join(work, 'out-priv'),
      registry: { plainHttp: true, credentials: USER },
    });
    expect(out.rootfs.digest).toBe(layoutDigest);
    expect(registry.tokenRequests.slice(before)).toEqual([
      { authorized: true, scope: 'repository:private/httpd:pull' },
    ]);
  });

  it('chooses linux/arm64 or linux/amd64 from a multi-arch index, refuses linux/arm/v7 naming what is offered', async () => {
    const multi = await writeOciLayout({
      layoutDir: join(work, 'multi'),
      layers: image.layers,
      platforms: [{ architecture: 'amd64' }, { architecture: 'arm64', variant: 'v8' }],
    });
    await push(multi.ref, `${registry.host}/public/multi:v1`, true);
    const src = openImageSource(`${registry.host}/public/multi:v1`, { plainHttp: true });
    const arm64 = await src.resolve(parsePlatform('linux/arm64'));
    const amd64 = await src.resolve(parsePlatform('linux/amd64'));
    expect(arm64.config.architecture).toBe('arm64');
    expect(amd64.config.architecture).toBe('amd64');
    expect(arm64.digest).not.toBe(amd64.digest);
    const err = await importImage(`${registry.host}/public/multi:v1`, {
      platform: 'linux/arm/v7',
      workDir: join(work, 'w'),
      outputDir: join(work, 'out-v7'),
      registry: { plainHttp: true },
    }).catch((e: unknown) => e);
    expect(isOciError(err, 'wrong-platform')).toBe(true);
    expect((err as Error).message).toMatch(
      /has no image for linux\/arm\/v7 \(offers: linux\/amd64, linux\/arm64\/v8\)/,
    );
    const out = await importImage(`${registry.host}/public/multi:v1`, {
      platform: 'linux/arm64',
      workDir: join(work, 'w'),
      outputDir: join(work, 'out-arm64'),
      registry: { plainHttp: true },
    });
    expect(out.image.digest).toBe(arm64.digest);
    expect(out.platform).toEqual({ os: 'linux', architecture: 'arm64', variant: 'v8' });
    expect(out.rootfs.digest).toBe(layoutDigest);
  });

  it('reads Docker media types: a v2 schema 2 manifest and a manifest list', async () => {
    await run('skopeo', [
      'copy',
      '--quiet',
      '--format',
      'v2s2',
      '--dest-tls-verify=false',
      '--dest-creds',
      `${USER.username}:${USER.password}`,
      image.ref,
      `docker://${registry.host}/public/docker:v1`,
    ]);
    const raw = await run('skopeo', [
      'inspect',
      '--raw',
      '--tls-verify=false',
      `docker://${registry.host}/public/docker:v1`,
    ]);
    expect(JSON.parse(raw.stdout).mediaType).toBe('application/vnd.docker.distribution.manifest.v2+json');
    const out = await importImage(`${registry.host}/public/docker:v1`, {
      platform,
      workDir: join(work, 'w'),
      outputDir: join(work, 'out-docker'),
      registry: { plainHttp: true },
    });
    expect(out.rootfs.digest).toBe(layoutDigest);

    const multi = await writeOciLayout({
      layoutDir: join(work, 'multi-docker'),
      layers: image.layers,
      platforms: [{ architecture: 'amd64' }, { architecture: 'arm64', variant: 'v8' }],
    });
    await run('skopeo', [
      'copy',
      '--quiet',
      '--all',
      '--format',
      'v2s2',
      '--dest-tls-verify=false',
      '--dest-creds',
      `${USER.username}:${USER.password}`,
      multi.ref,
      `docker://${registry.host}/public/docker-multi:v1`,
    ]);
    const rawList = await run('skopeo', [
      'inspect',
      '--raw',
      '--tls-verify=false',
      `docker://${registry.host}/public/docker-multi:v1`,
    ]);
    expect(JSON.parse(rawList.stdout).mediaType).toBe(
      'application/vnd.docker.distribution.manifest.list.v2+json',
    );
    const src = openImageSource(`${registry.host}/public/docker-multi:v1`, { plainHttp: true });
    expect((await src.resolve(parsePlatform('linux/arm64'))).config.architecture).toBe('arm64');
    expect((await src.resolve(parsePlatform('linux/amd64'))).config.architecture).toBe('amd64');
  });

  it('pulls over HTTPS from a registry with a private CA; without the CA the error says why', async () => {
    const tlsRegistry = await startRegistry(join(work, 'registry-tls'), { tls: true });
    try {
      await push(image.ref, `${tlsRegistry.host}/public/httpd:tls`);
      const ref = `${tlsRegistry.host}/public/httpd:tls`;
      const err = await importImage(ref, {
        platform,
        workDir: join(work, 'w'),
        outputDir: join(work, 'out-tls'),
        registry: {},
      }).catch((e: unknown) => e);
      expect(isOciError(err, 'registry')).toBe(true);
      expect((err as Error).message).toMatch(
        new RegExp(`cannot reach https://${tlsRegistry.host} \\(self[- ]signed certificate`),
      );
      const out = await importImage(ref, {
        platform,
        workDir: join(work, 'w'),
        outputDir: join(work, 'out-tls'),
        registry: { ca: tlsRegistry.caPem! },
      });
      expect(out.rootfs.digest).toBe(layoutDigest);
    } finally {
      await tlsRegistry.stop();
    }
  });

  it('a blob the registry serves with wrong content fails the digest check and leaves nothing', async () => {
    // A distinct third layer so corrupting it touches no other test's blobs.
    const extraDir = join(work, 'extra');
    await fs.mkdir(join(extraDir, 'srv'), { recursive: true });
    await fs.writeFile(join(extraDir, 'srv/payload'), 'x'.repeat(50_000));
    const extra = await tarLayer(extraDir, work, 'extra');
    const img = await writeOciLayout({ layoutDir: join(work, 'three'), layers: [...image.layers, extra] });
    await push(img.ref, `${registry.host}/public/corrupt:v1`);
    const hex = extra.digest.slice(7);
    const blob = join(work, 'registry/storage/docker/registry/v2/blobs/sha256', hex.slice(0, 2), hex, 'data');
    const data = await fs.readFile(blob);
    data[data.length - 20] = data[data.length - 20]! ^ 0xff;
    await fs.writeFile(blob, data);
    const out = join(work, 'out-corrupt');
    const err = await importImage(`${registry.host}/public/corrupt:v1`, {
      platform,
      workDir: join(work, 'w'),
      outputDir: out,
      registry: { plainHttp: true },
    }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Error);
    expect((err as Error).message).toContain(extra.digest);
    expect((err as Error).message).toMatch(/digest mismatch|corrupt or truncated/);
    expect(await fs.readdir(out)).toEqual([]);
    expect(await fs.readdir(join(work, 'w'))).toEqual([]);
  });
});

import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import * as fs from 'node:fs/promises';
import { join } from 'node:path';
import { promisify } from 'node:util';

/**
 * Builds real test images from a real rootfs (Debian's busybox-static), with GNU tar for the
 * layers (it writes PAX xattrs and detects hard links itself) and skopeo for the
 * docker-archive. Everything is deterministic: fixed mtimes, sorted entries, `gzip -n`.
 */

export const run = promisify(execFile);

export const FIXED_MTIME = 1_700_000_000;
export const WEB_UID = 1000;

const sha256 = (b: Uint8Array): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

export function hostArchitecture(): string {
  return process.arch === 'x64' ? 'amd64' : process.arch;
}

/**
 * A busybox-static rootfs: /bin/busybox with every applet linked (absolute links in /bin and
 * /sbin, relative ones under /usr), /etc/passwd and /etc/group with a named user `www`, an
 * httpd document root, a setuid file, a file with a user xattr, and content later layers
 * delete (`/etc/motd`) or hide (`/opt/app`).
 */
export async function makeBusyboxRootfs(dir: string): Promise<void> {
  await fs.mkdir(dir, { recursive: true });
  for (const d of [
    'bin',
    'sbin',
    'usr/bin',
    'usr/sbin',
    'etc',
    'www',
    'tmp',
    'root',
    'opt/app/sub',
    'usr/local/bin',
    'var/lib/data',
  ]) {
    await fs.mkdir(join(dir, d), { recursive: true });
  }
  await fs.chmod(join(dir, 'tmp'), 0o1777);
  await fs.copyFile('/bin/busybox', join(dir, 'bin/busybox'));
  await fs.chmod(join(dir, 'bin/busybox'), 0o755);
  const { stdout } = await run('/bin/busybox', ['--list-full']);
  for (const applet of stdout.split('\n').filter((l) => l !== '' && l !== 'bin/busybox')) {
    const depth = applet.split('/').length - 1;
    const target = applet.startsWith('usr/') ? `${'../'.repeat(depth)}bin/busybox` : '/bin/busybox';
    await fs.symlink(target, join(dir, applet)).catch((e: NodeJS.ErrnoException) => {
      if (e.code !== 'EEXIST') throw e;
    });
  }
  await fs.writeFile(
    join(dir, 'etc/passwd'),
    `root:x:0:0:root:/root:/bin/sh\nwww:x:${WEB_UID}:${WEB_UID}:web server:/www:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/false\n`,
  );
  await fs.writeFile(
    join(dir, 'etc/group'),
    `root:x:0:\nwww:x:${WEB_UID}:\nstaff:x:50:www\nnogroup:x:65534:\n`,
  );
  await fs.writeFile(join(dir, 'etc/motd'), 'deleted by layer 2\n');
  await fs.writeFile(join(dir, 'www/index.html'), '<h1>fleet v1</h1>\n');
  await fs.chown(join(dir, 'www'), WEB_UID, WEB_UID);
  await fs.chown(join(dir, 'www/index.html'), WEB_UID, WEB_UID);
  await fs.writeFile(join(dir, 'opt/app/old.txt'), 'hidden by the opaque dir in layer 2\n');
  await fs.writeFile(join(dir, 'opt/app/sub/deep.txt'), 'also hidden\n');
  await fs.writeFile(join(dir, 'usr/local/bin/suid-tool'), '#!/bin/sh\nid\n');
  await fs.chmod(join(dir, 'usr/local/bin/suid-tool'), 0o4755);
  await fs.writeFile(join(dir, 'var/lib/data/tagged'), 'has an xattr\n');
  await run('setfattr', ['-n', 'user.fleet.test', '-v', 'hello', join(dir, 'var/lib/data/tagged')]);
  await fs.chown(join(dir, 'var/lib/data'), WEB_UID, 50);
}

/**
 * Layer 2's tree: a whiteout (`etc/.wh.motd`), an opaque `opt/app`, a hard-linked pair, a
 * changed index page and a new health script.
 */
export async function makeSecondLayer(dir: string): Promise<void> {
  await fs.mkdir(join(dir, 'etc'), { recursive: true });
  await fs.mkdir(join(dir, 'opt/app'), { recursive: true });
  await fs.mkdir(join(dir, 'usr/share/data'), { recursive: true });
  await fs.mkdir(join(dir, 'www'), { recursive: true });
  await fs.writeFile(join(dir, 'etc/.wh.motd'), '');
  await fs.writeFile(join(dir, 'opt/app/.wh..wh..opq'), '');
  await fs.writeFile(join(dir, 'opt/app/new.txt'), 'only this survives in /opt/app\n');
  await fs.writeFile(join(dir, 'usr/share/data/a.txt'), 'two names, one inode\n');
  await fs.link(join(dir, 'usr/share/data/a.txt'), join(dir, 'usr/share/data/b.txt'));
  await fs.writeFile(join(dir, 'www/index.html'), '<h1>fleet v2</h1>\n');
  await fs.chown(join(dir, 'www'), WEB_UID, WEB_UID);
  await fs.chown(join(dir, 'www/index.html'), WEB_UID, WEB_UID);
}

export interface Layer {
  /** gzip-compressed tar (or as `mediaType` says). */
  blob: Buffer;
  mediaType?: string;
  digest: string;
  diffId: string;
}

/** A gzip layer from a directory, with GNU tar in PAX format (xattrs, hard links, numeric ids). */
export async function tarLayer(dir: string, workDir: string, name: string): Promise<Layer> {
  const tarFile = join(workDir, `${name}.tar`);
  await run('tar', [
    '--create',
    '--file',
    tarFile,
    '--directory',
    dir,
    '--format=posix',
    '--pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime',
    '--sort=name',
    `--mtime=@${FIXED_MTIME}`,
    '--numeric-owner',
    '--xattrs',
    '--xattrs-include=user.*',
    '.',
  ]);
  const raw = await fs.readFile(tarFile);
  await run('gzip', ['-n', '-9', '-f', tarFile]);
  const blob = await fs.readFile(`${tarFile}.gz`);
  await fs.rm(`${tarFile}.gz`, { force: true });
  return { blob, digest: sha256(blob), diffId: sha256(raw) };
}

export interface ImageConfigInput {
  Entrypoint?: string[] | null;
  Cmd?: string[] | null;
  Env?: string[];
  WorkingDir?: string;
  User?: string;
  Volumes?: Record<string, object>;
  StopSignal?: string;
  ExposedPorts?: Record<string, object>;
  Healthcheck?: {
    Test: string[];
    Interval?: number;
    Timeout?: number;
    StartPeriod?: number;
    Retries?: number;
  };
}

/** The httpd service: busybox httpd as user www, with a health check against it. */
export const HTTPD_CONFIG: ImageConfigInput = {
  Entrypoint: ['/bin/busybox', 'httpd', '-f', '-v'],
  Cmd: ['-p', '8080', '-h', '/www'],
  Env: ['PATH=/usr/sbin:/usr/bin:/sbin:/bin', 'GREETING=hello world', 'EMPTY='],
  WorkingDir: '/www',
  User: 'www',
  Volumes: { '/var/lib/data': {} },
  StopSignal: 'SIGTERM',
  ExposedPorts: { '8080/tcp': {} },
  Healthcheck: {
    Test: ['CMD-SHELL', 'wget -q -O /dev/null http://127.0.0.1:8080/ || exit 1'],
    Interval: 5_000_000_000,
    Timeout: 2_000_000_000,
    StartPeriod: 1_000_000_000,
    Retries: 3,
  },
};

export interface BuiltManifest {
  manifest: Buffer;
  digest: string;
  config: Buffer;
  configDigest: string;
}

export function manifestFor(
  layers: readonly Layer[],
  platform: { architecture: string; variant?: string },
  config: ImageConfigInput,
): BuiltManifest {
  const configDoc = {
    created: new Date(FIXED_MTIME * 1000).toISOString(),
    architecture: platform.architecture,
    ...(platform.variant !== undefined ? { variant: platform.variant } : {}),
    os: 'linux',
    config,
    rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
    history: layers.map((_, i) => ({
      created: new Date(FIXED_MTIME * 1000).toISOString(),
      created_by: `fleet test layer ${i + 1}`,
    })),
  };
  const configBytes = Buffer.from(JSON.stringify(configDoc));
  const manifestDoc = {
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: {
      mediaType: 'application/vnd.oci.image.config.v1+json',
      digest: sha256(configBytes),
      size: configBytes.length,
    },
    layers: layers.map((l) => ({
      mediaType: l.mediaType ?? 'application/vnd.oci.image.layer.v1.tar+gzip',
      digest: l.digest,
      size: l.blob.length,
    })),
  };
  const manifest = Buffer.from(JSON.stringify(manifestDoc));
  return { manifest, digest: sha256(manifest), config: configBytes, configDigest: sha256(configBytes) };
}

async function writeBlob(layoutDir: string, data: Buffer): Promise<string> {
  const digest = sha256(data);
  const path = join(layoutDir, 'blobs', 'sha256', digest.slice(7));
  await fs.mkdir(join(layoutDir, 'blobs', 'sha256'), { recursive: true });
  await fs.writeFile(path, data);
  return digest;
}

export interface OciLayoutImage {
  layoutDir: string;
  tag: string;
  /** `oci:<dir>:<tag>` */
  ref: string;
  /** The digest index.json points at (a manifest, or an index for multi-arch). */
  digest: string;
  layers: Layer[];
}

/**
 * Writes an OCI image layout. With one platform, index.json points at the manifest; with
 * several, at an image index (one manifest per architecture, same layers).
 */
export async function writeOciLayout(opts: {
  layoutDir: string;
  tag?: string;
  layers: Layer[];
  platforms?: { architecture: string; variant?: string }[];
  config?: ImageConfigInput;
}): Promise<OciLayoutImage> {
  const tag = opts.tag ?? 'latest';
  const platforms = opts.platforms ?? [{ architecture: hostArchitecture() }];
  await fs.mkdir(opts.layoutDir, { recursive: true });
  await fs.writeFile(join(opts.layoutDir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  for (const l of opts.layers) await writeBlob(opts.layoutDir, l.blob);
  const built = platforms.map((p) => ({ p, m: manifestFor(opts.layers, p, opts.config ?? HTTPD_CONFIG) }));
  for (const { m } of built) {
    await writeBlob(opts.layoutDir, m.config);
    await writeBlob(opts.layoutDir, m.manifest);
  }
  let top: { mediaType: string; digest: string; size: number };
  if (built.length === 1) {
    const m = built[0]!.m;
    top = {
      mediaType: 'application/vnd.oci.image.manifest.v1+json',
      digest: m.digest,
      size: m.manifest.length,
    };
  } else {
    const index = Buffer.from(
      JSON.stringify({
        schemaVersion: 2,
        mediaType: 'application/vnd.oci.image.index.v1+json',
        manifests: built.map(({ p, m }) => ({
          mediaType: 'application/vnd.oci.image.manifest.v1+json',
          digest: m.digest,
          size: m.manifest.length,
          platform: {
            architecture: p.architecture,
            os: 'linux',
            ...(p.variant !== undefined ? { variant: p.variant } : {}),
          },
        })),
      }),
    );
    top = {
      mediaType: 'application/vnd.oci.image.index.v1+json',
      digest: await writeBlob(opts.layoutDir, index),
      size: index.length,
    };
  }
  const indexJson = {
    schemaVersion: 2,
    manifests: [{ ...top, annotations: { 'org.opencontainers.image.ref.name': tag } }],
  };
  await fs.writeFile(join(opts.layoutDir, 'index.json'), JSON.stringify(indexJson));
  return {
    layoutDir: opts.layoutDir,
    tag,
    ref: `oci:${opts.layoutDir}:${tag}`,
    digest: top.digest,
    layers: opts.layers,
  };
}

/** The standard two-layer busybox httpd image, built under `workDir`. */
export async function buildBusyboxImage(
  workDir: string,
  opts: {
    platforms?: { architecture: string; variant?: string }[];
    config?: ImageConfigInput;
    tag?: string;
  } = {},
): Promise<OciLayoutImage> {
  const base = join(workDir, 'rootfs');
  const second = join(workDir, 'layer2');
  await makeBusyboxRootfs(base);
  await makeSecondLayer(second);
  const layers = [await tarLayer(base, workDir, 'layer1'), await tarLayer(second, workDir, 'layer2')];
  return writeOciLayout({ layoutDir: join(workDir, 'oci'), layers, ...opts });
}

/** `skopeo copy oci:... docker-archive:...` */
export async function toDockerArchive(
  image: OciLayoutImage,
  file: string,
  name = 'fleet/httpd:latest',
): Promise<string> {
  await run('skopeo', [
    'copy',
    '--quiet',
    `oci:${image.layoutDir}:${image.tag}`,
    `docker-archive:${file}:${name}`,
  ]);
  return `docker-archive:${file}`;
}

export interface RawEntry {
  name: string;
  /** '0' file, '1' hard link, '2' symlink, '3' char device, '4' block device, '5' directory, '6' fifo. */
  type?: '0' | '1' | '2' | '3' | '4' | '5' | '6';
  devmajor?: number;
  devminor?: number;
  body?: string | Buffer;
  linkname?: string;
  mode?: number;
  uid?: number;
  gid?: number;
}

/**
 * A ustar archive written byte by byte, for entries no honest tar tool writes (`../x`,
 * absolute names, escaping links): the hostile-input tests need exactly those.
 */
export function rawTar(entries: readonly RawEntry[]): Buffer {
  const blocks: Buffer[] = [];
  for (const e of entries) {
    const body = Buffer.from(e.body ?? '');
    const h = Buffer.alloc(512);
    const put = (off: number, len: number, s: string): void => void h.write(s, off, len, 'utf8');
    const oct = (off: number, len: number, n: number): void =>
      put(off, len, `${n.toString(8).padStart(len - 1, '0')}\0`);
    put(0, 100, e.name);
    oct(100, 8, e.mode ?? ((e.type ?? '0') === '5' ? 0o755 : 0o644));
    oct(108, 8, e.uid ?? 0);
    oct(116, 8, e.gid ?? 0);
    oct(124, 12, (e.type ?? '0') === '0' ? body.length : 0);
    oct(136, 12, FIXED_MTIME);
    put(156, 1, e.type ?? '0');
    put(157, 100, e.linkname ?? '');
    h.write('ustar\u000000', 257, 8, 'latin1');
    oct(329, 8, e.devmajor ?? 0);
    oct(337, 8, e.devminor ?? 0);
    h.fill(0x20, 148, 156);
    let sum = 0;
    for (const x of h) sum += x;
    put(148, 8, `${sum.toString(8).padStart(6, '0')}\0 `);
    blocks.push(h);
    if ((e.type ?? '0') === '0' && body.length > 0) {
      blocks.push(body, Buffer.alloc((512 - (body.length % 512)) % 512));
    }
  }
  blocks.push(Buffer.alloc(1024));
  return Buffer.concat(blocks);
}

/** A layer from raw tar bytes (gzip-compressed like registry layers). */
export async function rawLayer(tar: Buffer): Promise<Layer> {
  const zlib = await import('node:zlib');
  const blob = zlib.gzipSync(tar);
  return { blob, digest: sha256(blob), diffId: sha256(tar) };
}

import type { ObjectRef } from '@fleet/protocol';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import * as fs from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { promisify } from 'node:util';
import { RootfsBuilder } from './apply-layer.js';
import { mapImageConfig, type MappedConfig } from './config-map.js';
import { OciError } from './errors.js';
import { clampedJoin } from './paths.js';
import { parsePlatform, type PlatformSpec } from './platform.js';
import type { ImageSource, ResolvedImage } from './source.js';
import { DockerArchiveSource } from './source-docker-archive.js';
import { OciLayoutSource } from './source-layout.js';
import { RegistrySource, type RegistryOptions } from './source-registry.js';
import { readTar } from './tar-reader.js';
import { decompressing, verifyingStream } from './verify.js';

const run = promisify(execFile);

export const ROOTFS_MEDIA_TYPE = 'application/vnd.fleet.rootfs.squashfs';

/**
 * `oci:<dir>[:<tag>]`, `docker-archive:<file>[:<name:tag>]`, or a registry reference
 * (`[docker://]host[:port]/repo[:tag|@digest]`), in skopeo's transport notation.
 */
export function openImageSource(ref: string, registry: RegistryOptions = {}): ImageSource {
  if (ref.startsWith('oci:')) {
    const rest = ref.slice(4);
    const colon = rest.lastIndexOf(':');
    // A tag never contains '/', a path part after ':' does.
    if (colon !== -1 && !rest.slice(colon + 1).includes('/'))
      return new OciLayoutSource(rest.slice(0, colon), rest.slice(colon + 1));
    return new OciLayoutSource(rest);
  }
  if (ref.startsWith('docker-archive:')) {
    const rest = ref.slice('docker-archive:'.length);
    const colon = rest.indexOf(':');
    return colon === -1
      ? new DockerArchiveSource(rest)
      : new DockerArchiveSource(rest.slice(0, colon), rest.slice(colon + 1));
  }
  return new RegistrySource(ref, registry);
}

/**
 * Streams each layer through: blob digest check → decompression → diff_id check → tar reader →
 * {@link RootfsBuilder}. A mismatch surfaces at the end of the blob, after its entries were
 * written into `rootDir`, which is why callers unpack into a throw-away directory.
 */
export async function unpackImage(
  image: ResolvedImage,
  rootDir: string,
  signal?: AbortSignal,
): Promise<void> {
  const builder = new RootfsBuilder(rootDir);
  await builder.init();
  for (const layer of image.layers) {
    signal?.throwIfAborted();
    const raw = await layer.open(signal);
    let consuming: Promise<unknown> = Promise.resolve();
    const consume = (source: AsyncIterable<Buffer>): Promise<void> => {
      const it = source[Symbol.asyncIterator]();
      const once: AsyncIterable<Buffer> = { [Symbol.asyncIterator]: () => it };
      const done = (async () => {
        await builder.applyLayer(readTar(once), signal);
        // Trailing zero blocks after the end marker still have to pass the digest checks.
        for (;;) if ((await it.next()).done === true) break;
      })();
      consuming = done.catch(() => undefined);
      return done;
    };
    // The stage list varies (docker-archive layers have no blob digest), which pipeline's
    // overloads cannot express; every stage is a stream or a stream function.
    const chain: unknown[] = [
      raw instanceof Readable ? raw : Readable.from(raw),
      ...(layer.digest !== undefined ? [verifyingStream(layer.digest, layer.label, layer.size)] : []),
      decompressing(layer.label),
      verifyingStream(layer.diffId, `${layer.label} (uncompressed, diff_id)`),
      consume,
      ...(signal !== undefined ? [{ signal }] : []),
    ];
    try {
      await (pipeline as (...args: unknown[]) => Promise<void>)(...chain);
    } catch (e) {
      // An upstream stage (digest check at the end of the blob) can fail the pipeline while
      // the applier is still writing; let it stop before anyone removes the tree.
      await consuming;
      if (e instanceof OciError) {
        if (e.message.includes(layer.label) || e.code === 'digest-mismatch') throw e;
        throw new OciError(e.code, `${layer.label}: ${e.message}`, { cause: e });
      }
      if ((e as Error).name === 'AbortError')
        throw new OciError('aborted', `${image.ref}: aborted`, { cause: e });
      throw ioError(e, `${layer.label}`);
    }
  }
  await builder.finish();
}

/** Errors from the filesystem (not from the image's content) keep their cause visible. */
function ioError(e: unknown, what: string): OciError {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ENOSPC' || code === 'EDQUOT')
    return new OciError('no-space', `${what}: no space left on the device (${(e as Error).message})`, {
      cause: e,
    });
  return new OciError('io', `${what}: ${(e as Error).message}`, { cause: e });
}

/**
 * Reads a file of the unpacked image without following symlinks out of it (an image's
 * /etc/passwd may well be a symlink, even a hostile one).
 */
export async function readImageFile(
  rootDir: string,
  path: string,
  maxBytes = 4 << 20,
): Promise<string | null> {
  let comps = clampedJoin([], path);
  for (let hops = 0; hops < 40; hops++) {
    let resolved: string[] = [];
    let restart = false;
    for (let i = 0; i < comps.length; i++) {
      const next = [...resolved, comps[i]!];
      const st = await fs.lstat(join(rootDir, ...next)).catch(() => null);
      if (st === null) return null;
      if (st.isSymbolicLink()) {
        const target = await fs.readlink(join(rootDir, ...next));
        comps = [...clampedJoin(resolved, target), ...comps.slice(i + 1)];
        restart = true;
        break;
      }
      if (i < comps.length - 1 && !st.isDirectory()) return null;
      if (i === comps.length - 1 && !st.isFile()) return null;
      if (i === comps.length - 1 && st.size > maxBytes)
        throw new OciError('invalid-image', `image ${path} is larger than ${maxBytes} bytes`);
      resolved = next;
    }
    if (!restart) return fs.readFile(join(rootDir, ...resolved), 'utf8');
  }
  return null;
}

export interface SquashfsOptions {
  /** gzip is read by every kernel with squashfs; xz/zstd need the board's kernel to have them. */
  compressor?: 'gzip' | 'xz' | 'zstd';
}

/**
 * Builds a squashfs deterministically: fixed compressor options and block size, filesystem
 * time 0, `-reproducible` (single ordered writer), entries sorted by mksquashfs itself. File
 * mtimes come from the image (already deterministic), so they are kept rather than zeroed.
 */
export async function buildSquashfs(
  rootDir: string,
  outFile: string,
  opts: SquashfsOptions = {},
  signal?: AbortSignal,
): Promise<void> {
  const comp = opts.compressor ?? 'gzip';
  const compArgs =
    comp === 'gzip' ? ['-Xcompression-level', '9'] : comp === 'zstd' ? ['-Xcompression-level', '15'] : [];
  const args = [
    rootDir,
    outFile,
    '-noappend',
    '-no-progress',
    '-quiet',
    '-comp',
    comp,
    ...compArgs,
    '-b',
    '131072',
    '-mkfs-time',
    '0',
    '-reproducible',
    '-xattrs',
  ];
  try {
    await run('mksquashfs', args, { maxBuffer: 16 << 20, ...(signal !== undefined ? { signal } : {}) });
  } catch (e) {
    const err = e as { code?: string; stderr?: string; message: string };
    if (err.code === 'ENOENT')
      throw new OciError('build-failed', 'mksquashfs not found (Debian package squashfs-tools)', {
        cause: e,
      });
    const detail = (err.stderr ?? err.message).trim().slice(0, 500);
    if (/No space left on device/i.test(detail))
      throw new OciError('no-space', `mksquashfs: no space left on the device (${detail})`, { cause: e });
    throw new OciError('build-failed', `mksquashfs failed: ${detail}`, { cause: e });
  }
}

export async function sha256File(path: string): Promise<{ digest: string; size: number }> {
  const hash = createHash('sha256');
  let size = 0;
  for await (const chunk of createReadStream(path) as AsyncIterable<Buffer>) {
    hash.update(chunk);
    size += chunk.length;
  }
  return { digest: `sha256:${hash.digest('hex')}`, size };
}

export interface ImportOptions extends SquashfsOptions {
  /** Default linux/arm64. */
  platform?: string | PlatformSpec;
  /** Where the unpacked tree and the image are built; must be on the same filesystem as outputDir. */
  workDir: string;
  /** The finished object lands here as `<hex>.squashfs`. */
  outputDir: string;
  registry?: RegistryOptions;
  signal?: AbortSignal;
  /** Keep the unpacked tree at this path (tests, debugging). */
  keepRootfsAt?: string;
}

export interface ImportedImage extends MappedConfig {
  image: { ref: string; digest: string };
  configDigest: string;
  platform: PlatformSpec;
  rootfs: ObjectRef & { mediaType: typeof ROOTFS_MEDIA_TYPE };
  /** `<outputDir>/<hex>.squashfs`. */
  rootfsFile: string;
}

/**
 * Image → read-only root filesystem object + start config. Works in a temp dir under
 * `workDir` and renames the finished squashfs into `outputDir` only when everything passed:
 * on any error nothing is left behind.
 */
export async function importImage(ref: string | ImageSource, opts: ImportOptions): Promise<ImportedImage> {
  const source = typeof ref === 'string' ? openImageSource(ref, opts.registry) : ref;
  const platform =
    typeof opts.platform === 'string'
      ? parsePlatform(opts.platform)
      : (opts.platform ?? parsePlatform('linux/arm64'));
  await fs.mkdir(opts.workDir, { recursive: true });
  await fs.mkdir(opts.outputDir, { recursive: true });
  const tmp = await fs.mkdtemp(join(opts.workDir, '.import-'));
  try {
    const image = await source.resolve(platform, opts.signal);
    const rootDir = join(tmp, 'rootfs');
    await unpackImage(image, rootDir, opts.signal);
    const mapped = mapImageConfig(
      image.config.config,
      await readImageFile(rootDir, '/etc/passwd'),
      await readImageFile(rootDir, '/etc/group'),
      image.ref,
    );
    const sqfs = join(tmp, 'rootfs.squashfs');
    await buildSquashfs(rootDir, sqfs, opts, opts.signal);
    const { digest, size } = await sha256File(sqfs);
    const handle = await fs.open(sqfs, 'r');
    await handle.sync();
    await handle.close();
    const rootfsFile = join(opts.outputDir, `${digest.slice('sha256:'.length)}.squashfs`);
    await fs.rename(sqfs, rootfsFile);
    if (opts.keepRootfsAt !== undefined) {
      await fs.rm(opts.keepRootfsAt, { recursive: true, force: true });
      await fs.rename(rootDir, opts.keepRootfsAt);
    }
    return {
      ...mapped,
      image: { ref: image.ref, digest: image.digest },
      configDigest: image.configDigest,
      platform,
      rootfs: { digest, size, mediaType: ROOTFS_MEDIA_TYPE },
      rootfsFile,
    };
  } catch (e) {
    if (e instanceof OciError) throw e;
    if ((e as Error).name === 'AbortError')
      throw new OciError('aborted', `${source.ref}: import aborted`, { cause: e });
    throw ioError(e, source.ref);
  } finally {
    await fs.rm(tmp, { recursive: true, force: true, maxRetries: 3 });
  }
}

import type { ZodType } from 'zod';
import { OciError } from './errors.js';
import {
  ImageConfig,
  ImageIndex,
  ImageManifest,
  INDEX_TYPES,
  LAYER_TYPES,
  MANIFEST_TYPES,
  type Descriptor,
} from './image-types.js';
import { checkConfigPlatform, selectManifest, type PlatformSpec } from './platform.js';
import { checkDigestSyntax, verifyBytes } from './verify.js';

/** One layer to apply: raw bytes as stored, plus what to check them against. */
export interface LayerBlob {
  /** Digest of the stored (possibly compressed) blob; absent for docker-archive layers, whose only digest is the diff id. */
  digest?: string;
  size?: number;
  mediaType: string;
  /** sha256 of the uncompressed tar, from the image config's rootfs.diff_ids. */
  diffId: string;
  /** A short human name for errors ("layer 2/3 sha256:..."). */
  label: string;
  open(signal?: AbortSignal): Promise<AsyncIterable<Buffer>>;
}

export interface ResolvedImage {
  /** What the user asked for, e.g. `oci:/tmp/img:latest`. */
  ref: string;
  /** Manifest digest (registry, layout); the config digest (image id) for a docker-archive, which has no manifest blob. */
  digest: string;
  configDigest: string;
  config: ImageConfig;
  layers: LayerBlob[];
}

export interface ImageSource {
  readonly ref: string;
  resolve(want: PlatformSpec, signal?: AbortSignal): Promise<ResolvedImage>;
}

export function parseJson<T>(schema: ZodType<T>, data: Buffer, what: string): T {
  let value: unknown;
  try {
    value = JSON.parse(data.toString('utf8'));
  } catch (e) {
    throw new OciError('invalid-image', `${what} is not valid JSON (${(e as Error).message})`, { cause: e });
  }
  const r = schema.safeParse(value);
  if (!r.success) {
    const issue = r.error.issues[0];
    const path =
      issue === undefined
        ? ''
        : issue.path.map((p) => (typeof p === 'number' ? `[${p}]` : `.${String(p)}`)).join('');
    throw new OciError(
      'invalid-image',
      `${what} is not a valid image document: $${path}: ${issue?.message ?? 'invalid'}`,
    );
  }
  return r.data;
}

/** The media type of a manifest document: its own field, else the descriptor's, else guessed from its shape. */
function documentKind(
  doc: { mediaType?: unknown; manifests?: unknown; layers?: unknown },
  descType: string | undefined,
): 'index' | 'manifest' {
  const mt = typeof doc.mediaType === 'string' ? doc.mediaType : descType;
  if (mt !== undefined && INDEX_TYPES.includes(mt)) return 'index';
  if (mt !== undefined && MANIFEST_TYPES.includes(mt)) return 'manifest';
  if (Array.isArray(doc.manifests)) return 'index';
  if (Array.isArray(doc.layers)) return 'manifest';
  throw new OciError(
    'unsupported',
    `unsupported manifest media type ${JSON.stringify(mt)} (schema 1 and artifacts are not images)`,
  );
}

/**
 * Walks index → manifest → config for sources that store manifests as blobs (OCI layout,
 * registry). Every document fetched is verified against the digest that named it.
 */
export async function resolveFromDescriptor(opts: {
  ref: string;
  root: Descriptor | { digest: string; mediaType?: string; size?: number; bytes: Buffer };
  fetch: (d: { digest: string; mediaType?: string }, signal?: AbortSignal) => Promise<Buffer>;
  layerOpener: (d: Descriptor) => (signal?: AbortSignal) => Promise<AsyncIterable<Buffer>>;
  want: PlatformSpec;
  signal?: AbortSignal;
}): Promise<ResolvedImage> {
  const { ref, want, signal } = opts;
  let desc: { digest: string; mediaType?: string; size?: number } = opts.root;
  let bytes = 'bytes' in opts.root ? opts.root.bytes : await opts.fetch(opts.root, signal);
  verifyBytes(bytes, desc.digest, `manifest of ${ref}`, desc.size);
  for (let depth = 0; ; depth++) {
    const raw = parseJson(ImageIndex.or(ImageManifest), bytes, `manifest ${desc.digest} of ${ref}`);
    if (documentKind(raw as never, desc.mediaType) === 'manifest') break;
    if (depth >= 2) throw new OciError('invalid-image', `${ref}: image indexes nested too deep`);
    const index = parseJson(ImageIndex, bytes, `index ${desc.digest} of ${ref}`);
    desc = selectManifest(index.manifests, want, `${ref} (index ${desc.digest})`);
    bytes = await opts.fetch(desc, signal);
    verifyBytes(bytes, desc.digest, `manifest of ${ref}`, desc.size);
  }
  const manifest = parseJson(ImageManifest, bytes, `manifest ${desc.digest} of ${ref}`);
  checkDigestSyntax(manifest.config.digest, `config of ${ref}`);
  const configBytes = await opts.fetch(manifest.config, signal);
  verifyBytes(configBytes, manifest.config.digest, `config of ${ref}`, manifest.config.size);
  const config = parseJson(ImageConfig, configBytes, `config ${manifest.config.digest} of ${ref}`);
  checkConfigPlatform(config, want, ref);
  if (config.rootfs.diff_ids.length !== manifest.layers.length) {
    throw new OciError(
      'invalid-image',
      `${ref}: manifest lists ${manifest.layers.length} layers but the config has ${config.rootfs.diff_ids.length} diff_ids`,
    );
  }
  const layers = manifest.layers.map((l, i): LayerBlob => {
    if (!LAYER_TYPES.includes(l.mediaType))
      throw new OciError(
        'unsupported',
        `${ref}: layer ${i + 1} ${l.digest} has unsupported media type ${JSON.stringify(l.mediaType)}`,
      );
    checkDigestSyntax(l.digest, `layer ${i + 1} of ${ref}`);
    const diffId = config.rootfs.diff_ids[i]!;
    checkDigestSyntax(diffId, `diff_id ${i + 1} of ${ref}`);
    return {
      digest: l.digest,
      size: l.size,
      mediaType: l.mediaType,
      diffId,
      label: `layer ${i + 1}/${manifest.layers.length} ${l.digest}`,
      open: opts.layerOpener(l),
    };
  });
  return { ref, digest: desc.digest, configDigest: manifest.config.digest, config, layers };
}

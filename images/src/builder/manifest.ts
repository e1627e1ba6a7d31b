import { z } from 'zod';

const Digest = z.string().regex(/^sha256:[0-9a-f]{64}$/);

/** What an image contains, written beside it as <name>.manifest.json. */
export const ImageManifest = z.object({
  spec: z.literal('fleet-image@1'),
  board: z.string(),
  release: z.string(),
  sourceDateEpoch: z.number().int(),
  image: z.object({ file: z.string(), size: z.number().int(), digest: Digest, bmap: z.string() }),
  /** The root filesystem written to both slots; equal inputs give an equal digest. */
  rootfs: z.object({
    digest: Digest,
    size: z.number().int(),
    filesystem: z.literal('ext4'),
    file: z.string(),
  }),
  partitions: z.array(
    z.object({
      number: z.number().int(),
      name: z.string(),
      role: z.string(),
      filesystem: z.string(),
      offset: z.number().int(),
      size: z.number().int(),
      contentBytes: z.number().int(),
      digest: Digest,
    }),
  ),
  bootState: z.object({
    kind: z.literal('uboot-env'),
    offsets: z.array(z.number().int()),
    envSize: z.number().int(),
    initial: z.record(z.string(), z.string()),
  }),
  kernel: z.object({
    package: z.string(),
    version: z.string(),
    release: z.string(),
    modules: z.array(z.string()),
    initrdDigest: Digest,
  }),
  inputs: z.object({
    debs: z.array(z.object({ name: z.string(), version: z.string(), arch: z.string(), sha256: z.string() })),
    npm: z.array(z.object({ spec: z.string(), sha256: z.string() })),
  }),
  agent: z.object({
    bundled: z.boolean(),
    bootControl: z.literal('uboot-env').optional(),
    trustRoots: z.array(z.string()).optional(),
    note: z.string().optional(),
  }),
  provisioning: z.object({ hubUrl: z.string(), claimToken: z.literal('set'), path: z.string() }),
  factory: z.object({ files: z.number().int(), path: z.string() }).nullable(),
});
export type ImageManifest = z.infer<typeof ImageManifest>;

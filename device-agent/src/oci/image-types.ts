import { z } from 'zod';

/** The parts of the OCI image spec (and Docker's v2 schema 2) the converter reads. */

export const MediaTypes = {
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
} as const;

export const INDEX_TYPES: readonly string[] = [MediaTypes.ociIndex, MediaTypes.dockerList];
export const MANIFEST_TYPES: readonly string[] = [MediaTypes.ociManifest, MediaTypes.dockerManifest];

/** Layer media types we can apply: OCI and Docker, plain, gzip or zstd (the latter if Node has it). */
export const LAYER_TYPES: readonly string[] = [
  'application/vnd.oci.image.layer.v1.tar',
  'application/vnd.oci.image.layer.v1.tar+gzip',
  'application/vnd.oci.image.layer.v1.tar+zstd',
  'application/vnd.oci.image.layer.nondistributable.v1.tar',
  'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
  'application/vnd.docker.image.rootfs.diff.tar',
  'application/vnd.docker.image.rootfs.diff.tar.gzip',
  'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
];

export const Platform = z.object({
  architecture: z.string(),
  os: z.string(),
  variant: z.string().optional(),
  'os.version': z.string().optional(),
});
export type Platform = z.infer<typeof Platform>;

export const Descriptor = z.object({
  mediaType: z.string(),
  digest: z.string(),
  size: z.number().int().nonnegative(),
  platform: Platform.optional(),
  annotations: z.record(z.string(), z.string()).optional(),
  urls: z.array(z.string()).optional(),
});
export type Descriptor = z.infer<typeof Descriptor>;

export const ImageManifest = z.object({
  schemaVersion: z.literal(2),
  mediaType: z.string().optional(),
  config: Descriptor,
  layers: z.array(Descriptor),
});
export type ImageManifest = z.infer<typeof ImageManifest>;

export const ImageIndex = z.object({
  schemaVersion: z.literal(2),
  mediaType: z.string().optional(),
  manifests: z.array(Descriptor),
});
export type ImageIndex = z.infer<typeof ImageIndex>;

const stringList = z.array(z.string()).nullish();

export const HealthConfig = z.object({
  Test: stringList,
  Interval: z.number().int().nonnegative().optional(),
  Timeout: z.number().int().nonnegative().optional(),
  StartPeriod: z.number().int().nonnegative().optional(),
  StartInterval: z.number().int().nonnegative().optional(),
  Retries: z.number().int().nonnegative().optional(),
});
export type HealthConfig = z.infer<typeof HealthConfig>;

export const ContainerConfig = z.object({
  User: z.string().optional(),
  Env: stringList,
  Entrypoint: stringList,
  Cmd: stringList,
  WorkingDir: z.string().optional(),
  Volumes: z.record(z.string(), z.unknown()).nullish(),
  ExposedPorts: z.record(z.string(), z.unknown()).nullish(),
  StopSignal: z.string().optional(),
  Labels: z.record(z.string(), z.string()).nullish(),
  Healthcheck: HealthConfig.nullish(),
  Shell: stringList,
});
export type ContainerConfig = z.infer<typeof ContainerConfig>;

export const ImageConfig = z.object({
  architecture: z.string(),
  os: z.string(),
  variant: z.string().optional(),
  created: z.string().optional(),
  config: ContainerConfig.nullish(),
  rootfs: z.object({ type: z.literal('layers'), diff_ids: z.array(z.string()) }),
});
export type ImageConfig = z.infer<typeof ImageConfig>;

/** docker-archive's manifest.json (`docker save`, `skopeo copy ... docker-archive:`). */
export const DockerArchiveManifest = z.array(
  z.object({
    Config: z.string(),
    RepoTags: z.array(z.string()).nullish(),
    Layers: z.array(z.string()),
  }),
);
export type DockerArchiveManifest = z.infer<typeof DockerArchiveManifest>;

// The OCI image → fleet rootfs converter. Used by the agent (`fleet-agent import-image`) and by
// hubctl (`hubctl release create`) through the `@fleet/device-agent/oci` subpath: nothing in
// here may import the agent's runtime, store or link (docs/decisions/0020-oci-converter-placement.md).
export { OciError, isOciError, type OciErrorCode } from './errors.js';
export {
  importImage,
  openImageSource,
  unpackImage,
  buildSquashfs,
  readImageFile,
  sha256File,
  ROOTFS_MEDIA_TYPE,
  type ImportOptions,
  type ImportedImage,
  type SquashfsOptions,
} from './import-image.js';
export {
  mapImageConfig,
  resolveUser,
  parsePasswd,
  parseGroup,
  normaliseSignal,
  mapHealthcheck,
  type MappedConfig,
} from './config-map.js';
export { parsePlatform, formatPlatform, selectManifest, type PlatformSpec } from './platform.js';
export { OciLayoutSource } from './source-layout.js';
export { DockerArchiveSource } from './source-docker-archive.js';
export { RegistrySource, parseRegistryReference, type RegistryOptions } from './source-registry.js';
export type { ImageSource, ResolvedImage, LayerBlob } from './source.js';
export { RootfsBuilder } from './apply-layer.js';
export { readTar, type TarEntry } from './tar-reader.js';
export { zstdAvailable } from './verify.js';

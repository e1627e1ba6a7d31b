export { buildImage } from './builder/build-image.js';
export type { BuildOptions, BuildResult } from './builder/build-image.js';
export { ImageManifest } from './builder/manifest.js';
export { flashImage } from './flash/flash.js';
export type { FlashOptions, FlashResult } from './flash/flash.js';
export { parseBmap } from './flash/bmap.js';
export type { Bmap } from './flash/bmap.js';
export { defaultCacheDir } from './cache.js';

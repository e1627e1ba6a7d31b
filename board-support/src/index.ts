export * from './board-definition.js';
export * from './boards.js';
export * from './boot-script.js';
export { runBootControl, USAGE as BOOT_CONTROL_USAGE } from './boot-control/cli.js';
export { createBootControl, fwEnvConfigFor } from './boot-control/boot-control-factory.js';
export type { BootControlWiring } from './boot-control/boot-control-factory.js';
export * from './qemu.js';
export { mkimageScript } from './mkimage.js';
export { generateBootScripts, COMMITTED_SCRIPT_EPOCH } from './generate-boot-scripts.js';

/** Entry of the boot-control CLI, for bundling into images (esbuild). */
export const BOOT_CONTROL_ENTRY = new URL('./boot-control/bin.ts', import.meta.url).pathname;

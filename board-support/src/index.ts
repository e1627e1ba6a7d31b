export * from './board-definition.js';
export * from './boards.js';
export * from './boot-script.js';
export { runBootControl, USAGE as BOOT_CONTROL_USAGE } from './boot-control/cli.js';
export { createBootControl, fwEnvConfigFor } from './boot-control/boot-control-factory.js';
export type { BootControlWiring } from './boot-control/boot-control-factory.js';
export * from './qemu.js';

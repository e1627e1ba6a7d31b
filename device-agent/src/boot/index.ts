export * from './boot-control.js';
export * from './slot.js';
export {
  AB_VARS,
  DEFAULT_BOOTLIMIT,
  abStateFromEnv,
  abStateToEnv,
  runBootScript,
  verdictOf,
} from './ab-state.js';
export type { AbState } from './ab-state.js';
export * from './uboot-env-codec.js';
export * from './fw-env-config.js';
export * from './uboot-env-store.js';
export * from './uboot-env-boot-control.js';
export * from './file-boot-control.js';
export { writeAndVerify, digestRange, targetCapacity } from './install.js';

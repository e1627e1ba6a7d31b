// @fleet/hubctl as a library: the hub client and the release-file mapping, for tests and tools.
export { HubClient, hubError, hintFor, type HubClientOptions } from './hub/hub-client.js';
export {
  parseReleaseFile,
  manifestInput,
  checkManifest,
  resolveImageRef,
  ReleaseFileError,
  type ReleaseFile,
  type ConvertedImage,
} from './release/release-file.js';
export { formatError, UsageError, HubctlError, HubRequestError, HubUnreachableError } from './cli/errors.js';
export { COMMANDS } from './commands/index.js';
export { runCli, createProgram } from './cli/program.js';

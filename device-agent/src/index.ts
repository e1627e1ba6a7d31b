// @fleet/device-agent: the agent's composition root and the local API client, for tools and
// tests that drive an agent. The OCI converter is the `./oci` subpath.
export {
  startAgent,
  AGENT_VERSION,
  DEFAULT_CONFIG_PATH,
  SIMULATED_REBOOT_EXIT,
  type AgentHandle,
  type RunOptions,
} from './main.js';
export { ApiClient, ApiError, AgentUnreachable } from './api/client.js';
export { InstallRequest, ImportImageRequest } from './api/schemas.js';

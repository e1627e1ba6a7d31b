/**
 * The node flags the device starts the agent with (images' agent-run script has the same
 * line; bench/runtime.bench.ts measures the idle agent with them). Measured on the idle agent
 * connected to its broker (docs/runtime.md, memory; decision 0025):
 *
 * - `--max-semi-space-size=1`: V8's young generation grows its two semi-spaces to 8 MiB each
 *   during startup's allocation burst and keeps them resident; a 1 MiB cap is ~4 MiB less RSS.
 *   The agent's allocation rate is low, so more frequent scavenges cost little CPU.
 * - `--no-sparkplug`: no baseline compiler; its code and the compiler's own pages of the node
 *   binary stay out of RSS (~1 MiB). Hot code is still optimized by TurboFan.
 */
export const AGENT_NODE_FLAGS = ['--max-semi-space-size=1', '--no-sparkplug'] as const;

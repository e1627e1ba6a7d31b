// Its own module so the CLI (cli/context.ts) can name it without importing main.ts, which
// composes the whole agent: a CLI command other than `run` then never evaluates it.
export const DEFAULT_CONFIG_PATH = '/etc/fleet/agent.json';

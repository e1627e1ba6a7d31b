// What every command gets: parsed global options, the API client, and output streams.
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ApiClient } from '../api/client.js';
import { DEFAULT_CONFIG_PATH } from '../config-path.js';

export interface Io {
  out(text: string): void;
  err(text: string): void;
}

/** A command failed in a way the operator should see as a non-zero exit (bin.ts maps it). */
export class CommandFailed extends Error {
  override readonly name = 'CommandFailed';
  constructor(
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}

/** A wrong command line: exit status 2, like most Unix tools. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export function configPathOf(flag: string | undefined): string {
  return flag ?? process.env.FLEET_AGENT_CONFIG ?? DEFAULT_CONFIG_PATH;
}

/** The socket of the agent that owns this config's storage dir (no full validation needed). */
export async function clientFor(opts: {
  socket?: string | undefined;
  config?: string | undefined;
}): Promise<ApiClient> {
  const explicit = opts.socket ?? process.env.FLEET_AGENT_SOCKET;
  if (explicit) return new ApiClient(explicit);
  let storageDir = '/storage';
  try {
    const cfg = JSON.parse(await readFile(configPathOf(opts.config), 'utf8')) as { storageDir?: unknown };
    if (typeof cfg.storageDir === 'string') storageDir = cfg.storageDir;
  } catch {
    // No readable config: the default storage dir, as the agent itself would use.
  }
  return new ApiClient(join(storageDir, 'agent.sock'));
}

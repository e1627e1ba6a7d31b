import type { CommandContext, TextSink } from './cli/command.js';
import { HubctlError } from './cli/errors.js';
import { progressFactory } from './cli/progress.js';
import { ConfigStore, configPath } from './config.js';
import { HubClient } from './hub/hub-client.js';

export interface ContextOptions {
  env: NodeJS.ProcessEnv;
  cwd: string;
  stdout: TextSink;
  stderr: TextSink;
  /** The real terminal, when stderr is one (progress bars). */
  terminal?: NodeJS.WriteStream;
  stdin: NodeJS.ReadableStream;
  signal: AbortSignal;
  fetch?: typeof fetch;
}

/** The object graph of one hubctl run (CONVENTIONS 8: composed here, passed down). */
export function createContext(o: ContextOptions): CommandContext {
  const config = new ConfigStore(configPath(o.env));
  return {
    stdout: o.stdout,
    stderr: o.stderr,
    env: o.env,
    cwd: o.cwd,
    config,
    signal: o.signal,
    progress: progressFactory(o.stderr, o.terminal),
    async hub() {
      // CI can skip `login`: both variables together replace the stored config.
      const url = o.env.HUBCTL_URL;
      const token = o.env.HUBCTL_TOKEN;
      if (url && token) return new HubClient({ baseUrl: url, token, ...(o.fetch ? { fetch: o.fetch } : {}) });
      if (url || token)
        throw new HubctlError(
          'HUBCTL_URL and HUBCTL_TOKEN must be set together',
          'set both, or unset both and use `hubctl login`',
        );
      const c = await config.require();
      return new HubClient({ baseUrl: c.hubUrl, token: c.token, ...(o.fetch ? { fetch: o.fetch } : {}) });
    },
    async readStdin() {
      const chunks: Buffer[] = [];
      for await (const c of o.stdin) chunks.push(typeof c === 'string' ? Buffer.from(c) : c);
      return Buffer.concat(chunks).toString('utf8');
    },
  };
}

import type { CommandContext } from '../cli/command.js';
import { ConfigStore } from '../config.js';
import { HubClient } from '../hub/hub-client.js';

export interface FakeContext extends CommandContext {
  out: string[];
  err: string[];
  /** Requests the fake hub received, as `METHOD /path?query`. */
  requests: string[];
}

/**
 * A context for unit tests: output captured in memory, and a hub that is a function from
 * request to response (no sockets). The config path is never read by the commands tested
 * this way, which take the hub from `hub()`.
 */
export function fakeContext(
  /** `body` is sent as JSON; `text` as it is (an event stream). */
  answer: (
    method: string,
    url: URL,
    body: unknown,
  ) => { status: number; body?: unknown; text?: string } = () => ({
    status: 599,
  }),
): FakeContext {
  const out: string[] = [];
  const err: string[] = [];
  const requests: string[] = [];
  const fetchFake = (async (input: string | URL, init?: RequestInit) => {
    const url = new URL(String(input));
    const method = init?.method ?? 'GET';
    requests.push(`${method} ${url.pathname}${url.search}`);
    const a = answer(method, url, typeof init?.body === 'string' ? JSON.parse(init.body) : undefined);
    if (a.text !== undefined) {
      return new Response(a.text, { status: a.status, headers: { 'content-type': 'text/event-stream' } });
    }
    return new Response(a.body === undefined ? null : JSON.stringify(a.body), {
      status: a.status,
      headers: { 'content-type': 'application/json' },
    });
  }) as typeof fetch;
  return {
    out,
    err,
    requests,
    stdout: { write: (s: string) => out.push(s) },
    stderr: { write: (s: string) => err.push(s) },
    env: {},
    cwd: '/nonexistent',
    config: new ConfigStore('/nonexistent/hubctl.json'),
    signal: new AbortController().signal,
    progress: () => ({ increment: () => undefined, stop: () => undefined }),
    hub: async () => new HubClient({ baseUrl: 'http://hub.test', token: 'fleet_x', fetch: fetchFake }),
    readStdin: async () => '',
  };
}

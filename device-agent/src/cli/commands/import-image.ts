import { resolve } from 'node:path';
import type { ApiClient } from '../../api/client.js';
import type { Io } from '../context.js';

/** Local paths in `oci:`/`docker-archive:` references are made absolute: the agent has another cwd. */
export function absoluteRef(ref: string, cwd: string): string {
  const m = /^(oci|docker-archive):(.*)$/.exec(ref);
  if (!m) return ref;
  const [, kind, rest] = m as unknown as [string, string, string];
  if (rest.startsWith('/')) return ref;
  // Only the path part is resolved; `:tag` (or `:name:tag`) after it stays as it is.
  const colon = rest.indexOf(':');
  const path = colon === -1 ? rest : rest.slice(0, colon);
  const suffix = colon === -1 ? '' : rest.slice(colon);
  return `${kind}:${resolve(cwd, path)}${suffix}`;
}

export async function importImageCommand(
  client: ApiClient,
  io: Io,
  opts: { ref: string; platform: string | undefined; plainHttp: boolean },
): Promise<void> {
  const fragment = await client.json<unknown>('POST', '/v1/images/import', {
    ref: absoluteRef(opts.ref, process.cwd()),
    ...(opts.platform ? { platform: opts.platform } : {}),
    plainHttp: opts.plainHttp,
  });
  io.out(`${JSON.stringify(fragment, null, 2)}\n`);
}

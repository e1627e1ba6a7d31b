import type { ApiClient } from '../../api/client.js';
import { UsageError, type Io } from '../context.js';

export async function logsCommand(
  client: ApiClient,
  io: Io,
  opts: { container: string | undefined; follow: boolean; tailBytes: number; signal: AbortSignal },
): Promise<void> {
  let name = opts.container;
  if (!name) {
    const { containers } = await client.json<{ containers: { name: string }[] }>('GET', '/v1/containers');
    const names = [...new Set(containers.map((c) => c.name))];
    if (names.length !== 1)
      throw new UsageError(`name a container: ${names.length === 0 ? 'none runs' : names.join(', ')}`);
    name = names[0] as string;
  }
  const path = `/v1/containers/${encodeURIComponent(name)}/logs?tail=${opts.tailBytes}${opts.follow ? '&follow=1' : ''}`;
  for await (const chunk of client.stream(path, opts.signal)) io.out(chunk);
}

import { resolve } from 'node:path';
import type { Progress } from '@fleet/protocol';
import type { ApiClient } from '../../api/client.js';
import { CommandFailed, type Io } from '../context.js';

export interface InstallOptions {
  dir: string;
  strategy: 'stop-start' | 'hand-over';
  bakeSeconds: number | undefined;
  force: boolean;
  wait: boolean;
  json: boolean;
}

/** Offers a local revision to the update engine, then follows its progress to the outcome. */
export async function installCommand(client: ApiClient, io: Io, o: InstallOptions): Promise<void> {
  const { updateId } = await client.json<{ updateId: string }>('POST', '/v1/install', {
    dir: resolve(o.dir),
    strategy: o.strategy,
    force: o.force,
    ...(o.bakeSeconds !== undefined ? { bakeSeconds: o.bakeSeconds } : {}),
  });
  if (!o.json) io.out(`update ${updateId} offered\n`);
  if (!o.wait) {
    if (o.json) io.out(`${JSON.stringify({ updateId })}\n`);
    return;
  }
  let seen = 0;
  let last: Progress | undefined;
  for (;;) {
    const r = await client.json<{ progress: Progress[]; done: boolean }>(
      'GET',
      `/v1/updates/${encodeURIComponent(updateId)}?since=${seen}`,
    );
    for (const p of r.progress.slice(seen)) {
      if (!o.json)
        io.out(
          `  ${p.state.padEnd(18)} ${p.status.padEnd(11)} ${String(Math.round(p.percent)).padStart(3)}%${p.reason ? ` ${p.reason}` : ''}${p.message ? `: ${p.message}` : ''}\n`,
        );
      last = p;
    }
    seen = r.progress.length;
    if (r.done) break;
  }
  if (o.json) io.out(`${JSON.stringify({ updateId, outcome: last })}\n`);
  if (last?.status !== 'succeeded')
    throw new CommandFailed(
      `update ${updateId} ${last?.status ?? 'ended'}${last?.reason ? ` (${last.reason})` : ''}${last?.message ? `: ${last.message}` : ''}`,
    );
}

import type { ApiClient } from '../../api/client.js';
import type { Io } from '../context.js';

interface ContainerRow {
  name: string;
  instance: string;
  state: string;
  initPid: number | null;
  revision: string | null;
  message?: string;
}

export async function statusCommand(client: ApiClient, io: Io, opts: { json: boolean }): Promise<void> {
  const [status, list] = await Promise.all([
    client.json<Record<string, unknown>>('GET', '/v1/status'),
    client.json<{ containers: ContainerRow[] }>('GET', '/v1/containers'),
  ]);
  if (opts.json) return io.out(`${JSON.stringify({ ...status, containers: list.containers }, null, 2)}\n`);
  const committed = status.committed as { version: string; sequence: number; revision: string } | null;
  const hub = status.hub as { deviceId: string | null; connected: boolean };
  io.out(`agent      ${String(status.agentVersion)} on ${String(status.board)}\n`);
  io.out(
    `revision   ${committed ? `${committed.version} (sequence ${committed.sequence}, ${committed.revision})` : 'none committed'}\n`,
  );
  io.out(`update     ${String(status.updateState)}${status.running ? ` (${String(status.running)})` : ''}\n`);
  io.out(`boot slot  ${String(status.bootSlot ?? '-')}\n`);
  io.out(
    `hub        ${hub.deviceId ? `${hub.deviceId} ${hub.connected ? 'connected' : 'offline'}` : 'not provisioned yet'}\n`,
  );
  io.out(`containers ${list.containers.length === 0 ? 'none' : ''}\n`);
  for (const c of list.containers)
    io.out(
      `  ${c.name.padEnd(20)} ${c.state.padEnd(10)} pid ${String(c.initPid ?? '-').padEnd(8)} ${c.instance}${c.message ? `  ${c.message}` : ''}\n`,
    );
}

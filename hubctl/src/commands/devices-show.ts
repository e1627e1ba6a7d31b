import { z } from 'zod';
import { defineCommand } from '../cli/command.js';
import { fields, table, when } from '../cli/format.js';
import { Uuid } from './inputs.js';

export default defineCommand({
  path: ['devices', 'show'],
  summary: 'Show one device: state, release, update, containers.',
  args: [{ name: 'id', description: 'device id' }],
  json: true,
  input: z.object({ id: Uuid }),
  async run(input, ctx) {
    const d = await (await ctx.hub()).getDevice(input.id);
    const head = fields([
      ['id', d.id],
      ['name', d.name],
      ['fleet', d.fleetId],
      ['hardware', d.hardwareId],
      ['board', d.board],
      ['agent', d.agentVersion],
      ['online', d.online ? 'yes' : 'no'],
      ['last seen', when(d.lastSeenAt)],
      ['release', d.currentRelease ? `${d.currentRelease} (sequence ${d.currentSequence ?? '?'})` : '-'],
      [
        'update',
        `${d.updateState}${d.updateStatus ? ` / ${d.updateStatus}` : ''}${d.updateReason ? ` (${d.updateReason})` : ''}`,
      ],
      ['tags', d.tags.join(',') || '-'],
      ['failed revisions', d.failedRevisions.join(',') || '-'],
    ]);
    const containers = table(
      ['CONTAINER', 'STATE', 'RESTARTS', 'EXIT', 'STARTED', 'MESSAGE'],
      d.containers.map((c) => [
        c.name,
        c.state,
        String(c.restartCount),
        c.exitCode === null ? '-' : String(c.exitCode),
        when(c.startedAt),
        c.message ?? '',
      ]),
    );
    return { data: d, text: containers === '' ? head : `${head}\n${containers}` };
  },
});

import { z } from 'zod';
import { defineCommand } from '../cli/command.js';
import { bytes, fields, table, when } from '../cli/format.js';

export default defineCommand({
  path: ['releases', 'show'],
  summary: 'Show one release: manifest summary, containers, objects, signatures.',
  args: [{ name: 'release', description: 'version (e.g. 1.4.0) or id' }],
  json: true,
  input: z.object({ release: z.string().min(1).max(128) }),
  async run(input, ctx) {
    const r = await (await ctx.hub()).getRelease(input.release);
    const head = fields([
      ['version', r.version],
      ['id', r.id],
      ['sequence', String(r.sequence)],
      ['board', r.board],
      ['boards', r.compatibleBoards.join(',')],
      ['min agent', r.manifest.minAgentVersion],
      ['digest', r.manifestDigest],
      ['signed by', r.signedBy.join(',') || '-'],
      ['created', `${when(r.createdAt)} by ${r.createdBy}`],
      ['state', r.yankedAt ? `yanked ${when(r.yankedAt)}: ${r.yankReason ?? ''}` : 'active'],
      ['notes', r.notes || '-'],
    ]);
    const containers = table(
      ['CONTAINER', 'IMAGE', 'ROOTFS', 'SIZE', 'RESTART', 'NETWORK'],
      Object.entries(r.manifest.containers).map(([name, c]) => [
        name,
        c.image.ref,
        c.rootfs.digest,
        bytes(c.rootfs.size),
        c.restart.policy,
        c.network,
      ]),
    );
    return { data: r, text: `${head}\n${containers}` };
  },
});

import { z } from 'zod';
import { defineCommand } from '../cli/command.js';

export default defineCommand({
  path: ['releases', 'yank'],
  summary: 'Yank a release: no new rollout may use it (devices running it keep it).',
  args: [{ name: 'release', description: 'version or id' }],
  options: [
    { flags: '--reason <text>', description: 'why (kept in the audit log and shown in `releases ls`)' },
  ],
  json: true,
  input: z.object({
    release: z.string().min(1).max(128),
    reason: z.string({ error: 'is required: say why the release is yanked' }).min(1).max(2000),
  }),
  async run(input, ctx) {
    const r = await (await ctx.hub()).yankRelease(input.release, input.reason);
    return {
      data: r,
      text: `yanked release ${r.version} (sequence ${r.sequence}): ${r.yankReason ?? input.reason}\n`,
    };
  },
});

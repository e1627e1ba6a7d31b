import { z } from 'zod';
import { defineCommand } from '../cli/command.js';
import { progressLine, rolloutsApi } from './rollouts-api.js';

export default defineCommand({
  path: ['rollouts', 'rollback'],
  summary: 'Roll a rollout back: every device that got the release returns to the release it ran before.',
  args: [{ name: 'rollout', description: 'rollout id or name' }],
  options: [{ flags: '--reason <text>', description: 'why (kept in the audit log)' }],
  json: true,
  input: z.object({ rollout: z.string().min(1).max(200), reason: z.string().min(1).max(2000).optional() }),
  async run(input, ctx) {
    const r = await (await rolloutsApi(ctx)).act(input.rollout, 'rollback', input.reason);
    return { data: r, text: `${r.id}: ${progressLine(r)}\n` };
  },
});

import { z } from 'zod';
import { defineCommand } from '../cli/command.js';
import { progressLine, rolloutsApi } from './rollouts-api.js';

export default defineCommand({
  path: ['rollouts', 'resume'],
  summary: 'Resume a paused rollout (failures seen so far no longer count against the threshold).',
  args: [{ name: 'rollout', description: 'rollout id or name' }],
  options: [{ flags: '--reason <text>', description: 'why (kept in the audit log)' }],
  json: true,
  input: z.object({ rollout: z.string().min(1).max(200), reason: z.string().min(1).max(2000).optional() }),
  async run(input, ctx) {
    const r = await (await rolloutsApi(ctx)).act(input.rollout, 'resume', input.reason);
    return { data: r, text: `${r.id}: ${progressLine(r)}\n` };
  },
});

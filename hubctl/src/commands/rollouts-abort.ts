import { z } from 'zod';
import { defineCommand } from '../cli/command.js';
import { progressLine, rolloutsApi } from './rollouts-api.js';

export default defineCommand({
  path: ['rollouts', 'abort'],
  summary: 'Abort a rollout: devices not started never start; devices mid-update finish.',
  args: [{ name: 'rollout', description: 'rollout id or name' }],
  options: [{ flags: '--reason <text>', description: 'why (kept in the audit log)' }],
  json: true,
  input: z.object({ rollout: z.string().min(1).max(200), reason: z.string().min(1).max(2000).optional() }),
  async run(input, ctx) {
    const r = await (await rolloutsApi(ctx)).act(input.rollout, 'abort', input.reason);
    return { data: r, text: `${r.id}: ${progressLine(r)}\n` };
  },
});

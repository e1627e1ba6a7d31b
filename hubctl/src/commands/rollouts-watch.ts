import { z } from 'zod';
import { defineCommand } from '../cli/command.js';
import { follow, requireCompleted } from './deploy.js';
import { progressLine, rolloutsApi } from './rollouts-api.js';

export default defineCommand({
  path: ['rollouts', 'watch'],
  summary: 'Follow a rollout until it completes, pauses, aborts or rolls back (exit 1 unless it completes).',
  args: [{ name: 'rollout', description: 'rollout id or name' }],
  json: true,
  input: z.object({ rollout: z.string().min(1).max(200) }),
  async run(input, ctx) {
    const api = await rolloutsApi(ctx);
    const final = await follow(api, input.rollout, ctx);
    requireCompleted(final);
    return { data: final, text: `${progressLine(final)}\n` };
  },
});

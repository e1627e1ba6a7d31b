import { z } from 'zod';
import { defineCommand } from '../cli/command.js';
import { Uuid } from './inputs.js';

export default defineCommand({
  path: ['claim-tokens', 'revoke'],
  summary: 'Revoke a claim token: no new device can claim with it.',
  args: [{ name: 'id', description: 'claim token id (from `hubctl claim-tokens ls`)' }],
  json: true,
  input: z.object({ id: Uuid }),
  async run(input, ctx) {
    const t = await (await ctx.hub()).revokeClaimToken(input.id);
    return { data: t, text: `revoked claim token ${t.name} (${t.id})\n` };
  },
});

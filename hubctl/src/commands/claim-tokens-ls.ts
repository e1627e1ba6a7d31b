import { z } from 'zod';
import { defineCommand } from '../cli/command.js';
import { table, when } from '../cli/format.js';
import { FleetRef } from './inputs.js';

export default defineCommand({
  path: ['claim-tokens', 'ls'],
  summary: "List a fleet's claim tokens (the secrets themselves are never shown again).",
  options: [{ flags: '--fleet <fleet>', description: 'fleet name or id' }],
  json: true,
  input: z.object({ fleet: FleetRef }),
  async run(input, ctx) {
    const tokens = await (await ctx.hub()).listClaimTokens(input.fleet);
    const state = (t: (typeof tokens)[number]) =>
      t.revokedAt
        ? 'revoked'
        : t.expiresAt && Date.parse(t.expiresAt) <= Date.now()
          ? 'expired'
          : t.maxUses !== null && t.uses >= t.maxUses
            ? 'used up'
            : 'active';
    return {
      data: tokens,
      text:
        tokens.length === 0
          ? `fleet ${input.fleet} has no claim tokens\n`
          : table(
              ['ID', 'NAME', 'STATE', 'USES', 'EXPIRES', 'TAGS'],
              tokens.map((t) => [
                t.id,
                t.name,
                state(t),
                `${t.uses}/${t.maxUses ?? '∞'}`,
                when(t.expiresAt),
                t.tags.join(','),
              ]),
            ),
    };
  },
});

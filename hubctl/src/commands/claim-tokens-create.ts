import { z } from 'zod';
import { defineCommand } from '../cli/command.js';
import { fields, when } from '../cli/format.js';
import { FleetRef, IntText, Tag } from './inputs.js';

export const ClaimTokensCreateInput = z.object({
  fleet: FleetRef,
  name: z.string().min(1).max(100),
  tag: z.array(Tag).max(50).default([]),
  maxUses: IntText(1, 1_000_000).optional(),
  expiresInHours: IntText(1, 24 * 365 * 5).optional(),
});

export default defineCommand({
  path: ['claim-tokens', 'create'],
  summary: 'Create a claim token devices use to join a fleet (shown once).',
  options: [
    { flags: '--fleet <fleet>', description: 'fleet name or id' },
    { flags: '--name <name>', description: 'what the token is for, e.g. "factory line 2"' },
    {
      flags: '--tag <k=v>',
      description: 'tag given to devices that claim with it (repeatable)',
      repeatable: true,
    },
    { flags: '--max-uses <n>', description: 'devices that may use it (default: unlimited)' },
    { flags: '--expires-in-hours <n>', description: 'lifetime (default: until revoked)' },
  ],
  json: true,
  input: ClaimTokensCreateInput,
  async run(input, ctx) {
    const t = await (
      await ctx.hub()
    ).createClaimToken(input.fleet, {
      name: input.name,
      tags: input.tag,
      ...(input.maxUses !== undefined ? { maxUses: input.maxUses } : {}),
      ...(input.expiresInHours !== undefined ? { expiresInHours: input.expiresInHours } : {}),
    });
    return {
      data: t,
      text:
        fields([
          ['token', t.token],
          ['id', t.id],
          ['name', t.name],
          ['tags', t.tags.join(',') || '-'],
          ['max uses', t.maxUses === null ? 'unlimited' : String(t.maxUses)],
          ['expires', when(t.expiresAt)],
        ]) + 'The token is shown only now: put it in the image (`hubctl image build --claim-token ...`).\n',
    };
  },
});

import { z } from 'zod';
import { defineCommand } from '../cli/command.js';
import { fields } from '../cli/format.js';

export default defineCommand({
  path: ['whoami'],
  summary: 'Show the hub and the user this token belongs to.',
  json: true,
  input: z.object({}),
  async run(_input, ctx) {
    const hub = await ctx.hub();
    const me = await hub.whoami();
    return {
      data: { hubUrl: hub.baseUrl, ...me },
      text: fields([
        ['hub', hub.baseUrl],
        ['user', me.email],
        ['role', me.role],
        ['token', me.tokenId ?? '-'],
        ['scopes', me.scopes.length > 0 ? me.scopes.join(',') : 'all (of the role)'],
      ]),
    };
  },
});

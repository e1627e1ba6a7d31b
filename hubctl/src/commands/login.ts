import { z } from 'zod';
import { defineCommand } from '../cli/command.js';
import { HubctlError, HubRequestError } from '../cli/errors.js';
import { HubClient } from '../hub/hub-client.js';

export const LoginInput = z
  .object({
    url: z
      .url({ error: 'must be the hub URL, e.g. http://hub.example:8080' })
      .refine((u) => /^https?:\/\//.test(u), { error: 'must be an http:// or https:// URL' }),
    token: z.string().min(1).optional(),
    tokenStdin: z.boolean().optional(),
  })
  .refine((v) => (v.token !== undefined) !== (v.tokenStdin === true), {
    error: 'give the API token with --token <token> or --token-stdin (one of them)',
    path: ['token'],
  });

export default defineCommand({
  path: ['login'],
  summary: 'Store the hub URL and an API token (checked against the hub first).',
  options: [
    { flags: '--url <url>', description: 'hub URL, e.g. http://127.0.0.1:8080' },
    {
      flags: '--token <token>',
      description: 'API token (fleet_...), created in the dashboard or with POST /api/v1/tokens',
    },
    {
      flags: '--token-stdin',
      description: 'read the token from standard input (keeps it out of the process list)',
    },
  ],
  json: true,
  input: LoginInput,
  async run(input, ctx) {
    const token = input.token ?? (await ctx.readStdin()).trim();
    if (token === '')
      throw new HubctlError(
        'standard input held no token',
        'pipe the token in: `echo $TOKEN | hubctl login --url ... --token-stdin`',
      );
    const client = new HubClient({ baseUrl: input.url, token });
    let me;
    try {
      me = await client.whoami();
    } catch (e) {
      if (e instanceof HubRequestError && e.status === 401) {
        throw new HubctlError(
          `the hub at ${client.baseUrl} refused this token (401); nothing was stored`,
          'check the token (it may be mistyped, expired or revoked) and create a new one if needed',
        );
      }
      throw e;
    }
    const previous = await ctx.config.read().catch(() => null);
    await ctx.config.write({
      hubUrl: client.baseUrl,
      token,
      ...(previous?.defaultKey ? { defaultKey: previous.defaultKey } : {}),
    });
    return {
      data: { hubUrl: client.baseUrl, email: me.email, role: me.role, config: ctx.config.path },
      text: `logged in to ${client.baseUrl} as ${me.email} (${me.role}); saved in ${ctx.config.path}\n`,
    };
  },
});

import { z } from 'zod';
import { defineCommand } from '../cli/command.js';
import { FleetRef, Uuid } from './inputs.js';
import { Scope } from './env-ls.js';
import { rolloutsApi } from './rollouts-api.js';

export default defineCommand({
  path: ['env', 'unset'],
  summary: "Remove a container's variable from a fleet or a device; devices get the change at once.",
  args: [
    { name: 'container', description: 'container name' },
    { name: 'name', description: 'variable name' },
  ],
  options: [
    { flags: '--fleet <fleet>', description: 'fleet variable (name or id)' },
    { flags: '--device <id>', description: 'device variable' },
  ],
  json: true,
  input: z
    .object({
      container: z.string().min(1).max(63),
      name: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, { error: 'must be a variable name' }),
      fleet: FleetRef.optional(),
      device: Uuid.optional(),
    })
    .and(Scope),
  async run(input, ctx) {
    const l = await (
      await rolloutsApi(ctx)
    ).envUnset({ fleet: input.fleet, device: input.device }, input.container, input.name);
    return {
      data: l,
      text: `${input.container}: ${input.name} removed (version ${l.version}; sent to ${l.delivered ?? 0} devices)\n`,
    };
  },
});

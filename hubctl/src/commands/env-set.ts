import { z } from 'zod';
import { defineCommand } from '../cli/command.js';
import { FleetRef, Uuid } from './inputs.js';
import { Scope } from './env-ls.js';
import { rolloutsApi } from './rollouts-api.js';

const Container = z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, {
  error: 'must be a container name (lower-case letters, digits, dashes)',
});
export const Assignment = z
  .string()
  .regex(/^[A-Za-z_][A-Za-z0-9_]*=/s, { error: 'must be NAME=value (NAME: letters, digits, _)' })
  .transform((s) => ({ name: s.slice(0, s.indexOf('=')), value: s.slice(s.indexOf('=') + 1) }));

export default defineCommand({
  path: ['env', 'set'],
  summary: "Set a container's variable for a fleet or a device; devices get it at once, without a release.",
  args: [
    { name: 'container', description: 'container name in the release' },
    { name: 'assignment', description: 'NAME=value' },
  ],
  options: [
    { flags: '--fleet <fleet>', description: 'for every device of this fleet (name or id)' },
    { flags: '--device <id>', description: 'for this device only (overrides the fleet)' },
  ],
  json: true,
  input: z
    .object({
      container: Container,
      assignment: Assignment,
      fleet: FleetRef.optional(),
      device: Uuid.optional(),
    })
    .and(Scope),
  async run(input, ctx) {
    const l = await (
      await rolloutsApi(ctx)
    ).envSet(
      { fleet: input.fleet, device: input.device },
      input.container,
      input.assignment.name,
      input.assignment.value,
    );
    return {
      data: l,
      text: `${input.container}: ${input.assignment.name} set (version ${l.version}; sent to ${l.delivered ?? 0} devices${l.waiting ? `, ${l.waiting} get it with their first release` : ''})\n`,
    };
  },
});

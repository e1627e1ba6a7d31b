import { z } from 'zod';
import { defineCommand } from '../cli/command.js';
import { FleetName } from './inputs.js';

export const FleetsCreateInput = z.object({ name: FleetName, description: z.string().max(2000).optional() });

export default defineCommand({
  path: ['fleets', 'create'],
  summary: 'Create a fleet.',
  args: [{ name: 'name', description: 'lower-case letters, digits and dashes' }],
  options: [{ flags: '--description <text>', description: 'free text' }],
  json: true,
  input: FleetsCreateInput,
  async run(input, ctx) {
    const fleet = await (
      await ctx.hub()
    ).createFleet({
      name: input.name,
      ...(input.description !== undefined ? { description: input.description } : {}),
    });
    return { data: fleet, text: `created fleet ${fleet.name} (${fleet.id})\n` };
  },
});

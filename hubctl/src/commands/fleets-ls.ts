import { z } from 'zod';
import { defineCommand } from '../cli/command.js';
import { table, when } from '../cli/format.js';

export default defineCommand({
  path: ['fleets', 'ls'],
  summary: 'List fleets.',
  json: true,
  input: z.object({}),
  async run(_input, ctx) {
    const fleets = await (await ctx.hub()).listFleets();
    return {
      data: fleets,
      text:
        fleets.length === 0
          ? 'no fleets yet (create one with `hubctl fleets create <name>`)\n'
          : table(
              ['NAME', 'DEVICES', 'CREATED', 'ID', 'DESCRIPTION'],
              fleets.map((f) => [f.name, String(f.deviceCount), when(f.createdAt), f.id, f.description]),
            ),
    };
  },
});

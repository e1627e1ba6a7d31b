import { z } from 'zod';
import { defineCommand } from '../cli/command.js';
import { Tag, Uuid } from './inputs.js';

export const DevicesTagInput = z
  .object({
    id: z.array(Uuid).min(1).max(1000),
    add: z.array(Tag).max(50).default([]),
    remove: z.array(Tag).max(50).default([]),
  })
  .refine((v) => v.add.length + v.remove.length > 0, {
    error: 'give tags with --add k=v and/or --remove k',
    path: ['add'],
  });

export default defineCommand({
  path: ['devices', 'tag'],
  summary: 'Add or remove tags on one or more devices.',
  args: [{ name: 'id', description: 'device ids', variadic: true }],
  options: [
    { flags: '--add <k=v>', description: 'tag to add (repeatable)', repeatable: true },
    { flags: '--remove <k>', description: 'tag to remove (repeatable)', repeatable: true },
  ],
  json: true,
  input: DevicesTagInput,
  async run(input, ctx) {
    const r = await (
      await ctx.hub()
    ).tagDevices({ deviceIds: input.id, add: input.add, remove: input.remove });
    return { data: r, text: `updated tags on ${r.updated} device${r.updated === 1 ? '' : 's'}\n` };
  },
});

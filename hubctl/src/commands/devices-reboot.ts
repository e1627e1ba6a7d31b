import { z } from 'zod';
import { defineCommand } from '../cli/command.js';
import { Uuid } from './inputs.js';

export default defineCommand({
  path: ['devices', 'reboot'],
  summary: 'Ask a device to reboot (a command sent through the broker).',
  args: [{ name: 'id', description: 'device id' }],
  json: true,
  input: z.object({ id: Uuid }),
  async run(input, ctx) {
    const c = await (await ctx.hub()).sendCommand(input.id, { kind: 'reboot' });
    return { data: c, text: `reboot command ${c.id}: ${c.status}${c.message ? ` (${c.message})` : ''}\n` };
  },
});

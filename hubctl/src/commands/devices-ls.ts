import { z } from 'zod';
import { defineCommand } from '../cli/command.js';
import { table, when } from '../cli/format.js';
import type { Device } from '@fleet/protocol';
import { FleetRef, IntText, Tag } from './inputs.js';

export const DevicesLsInput = z.object({
  fleet: FleetRef.optional(),
  tag: z.array(Tag).max(20).default([]),
  status: z.enum(['online', 'offline', 'updating', 'failed']).optional(),
  release: z.string().min(1).max(128).optional(),
  search: z.string().min(1).max(128).optional(),
  limit: IntText(1, 100_000).default(200),
});

function status(d: Device): string {
  if (d.updateStatus === 'failed' || d.updateState === 'failed') return 'failed';
  if (d.updateState !== 'idle' && d.updateState !== '') return `updating (${d.updateState})`;
  return d.online ? 'online' : 'offline';
}

export default defineCommand({
  path: ['devices', 'ls'],
  summary: 'List devices (all pages up to --limit).',
  options: [
    { flags: '--fleet <fleet>', description: 'only this fleet (name or id)' },
    {
      flags: '--tag <k=v>',
      description: 'only devices with this tag (repeatable: all must match)',
      repeatable: true,
    },
    { flags: '--status <status>', description: 'online, offline, updating or failed' },
    { flags: '--release <version>', description: 'only devices running this release' },
    { flags: '--search <text>', description: 'name or hardware id contains this, or an exact device id' },
    { flags: '--limit <n>', description: 'most devices to list (default 200)' },
  ],
  json: true,
  input: DevicesLsInput,
  async run(input, ctx) {
    const hub = await ctx.hub();
    const fleetId = input.fleet === undefined ? undefined : (await hub.getFleet(input.fleet)).id;
    const devices: Device[] = [];
    let cursor: string | undefined;
    do {
      const page = await hub.listDevices({
        ...(fleetId ? { fleetId } : {}),
        tag: input.tag,
        ...(input.status ? { status: input.status } : {}),
        ...(input.release ? { release: input.release } : {}),
        ...(input.search ? { q: input.search } : {}),
        limit: Math.min(500, input.limit - devices.length),
        ...(cursor ? { cursor } : {}),
      });
      devices.push(...page.items);
      cursor = page.nextCursor ?? undefined;
    } while (cursor && devices.length < input.limit);
    return {
      data: devices,
      text:
        devices.length === 0
          ? 'no devices match\n'
          : table(
              ['ID', 'NAME', 'STATUS', 'RELEASE', 'BOARD', 'LAST SEEN', 'TAGS'],
              devices.map((d) => [
                d.id,
                d.name,
                status(d),
                d.currentRelease ?? '-',
                d.board,
                when(d.lastSeenAt),
                d.tags.join(','),
              ]),
            ),
    };
  },
});

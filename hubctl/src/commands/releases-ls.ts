import { z } from 'zod';
import { defineCommand } from '../cli/command.js';
import { table, when } from '../cli/format.js';
import type { ReleaseSummary } from '@fleet/protocol';
import { IntText } from './inputs.js';

export default defineCommand({
  path: ['releases', 'ls'],
  summary: 'List releases, newest sequence first.',
  options: [
    { flags: '--include-yanked', description: 'also yanked releases' },
    { flags: '--board <board>', description: 'only releases for this board' },
    { flags: '--limit <n>', description: 'most releases to list (default 50)' },
  ],
  json: true,
  input: z.object({
    includeYanked: z.boolean().default(false),
    board: z.string().min(1).max(64).optional(),
    limit: IntText(1, 10_000).default(50),
  }),
  async run(input, ctx) {
    const hub = await ctx.hub();
    const releases: ReleaseSummary[] = [];
    let cursor: string | undefined;
    do {
      const page = await hub.listReleases({
        includeYanked: input.includeYanked,
        ...(input.board ? { board: input.board } : {}),
        limit: Math.min(500, input.limit - releases.length),
        ...(cursor ? { cursor } : {}),
      });
      releases.push(...page.items);
      cursor = page.nextCursor ?? undefined;
    } while (cursor && releases.length < input.limit);
    return {
      data: releases,
      text:
        releases.length === 0
          ? 'no releases (publish one with `hubctl release create -f release.yaml`)\n'
          : table(
              ['VERSION', 'SEQUENCE', 'BOARDS', 'CREATED', 'STATE', 'DIGEST'],
              releases.map((r) => [
                r.version,
                String(r.sequence),
                r.compatibleBoards.join(','),
                when(r.createdAt),
                r.yankedAt ? `yanked: ${r.yankReason ?? ''}` : 'active',
                r.manifestDigest,
              ]),
            ),
    };
  },
});

import { z } from 'zod';
import { defineCommand } from '../cli/command.js';
import { table, when } from '../cli/format.js';
import { FleetRef, IntText } from './inputs.js';
import { rolloutsApi } from './rollouts-api.js';

export default defineCommand({
  path: ['rollouts', 'ls'],
  summary: 'List rollouts, newest first.',
  options: [
    { flags: '--fleet <fleet>', description: 'only this fleet (name or id)' },
    { flags: '--state <state>', description: 'running, paused, completed, aborted or rolled-back' },
    { flags: '--limit <n>', description: 'most rollouts to list (default 50)' },
  ],
  json: true,
  input: z.object({
    fleet: FleetRef.optional(),
    state: z.enum(['running', 'paused', 'completed', 'aborted', 'rolled-back']).optional(),
    limit: IntText(1, 500).default(50),
  }),
  async run(input, ctx) {
    const page = await (
      await rolloutsApi(ctx)
    ).list({
      ...(input.fleet ? { fleet: input.fleet } : {}),
      ...(input.state ? { state: input.state } : {}),
      limit: input.limit,
    });
    const rows = page.items.map((r) => {
      const total = Object.values(r.counts).reduce((a, b) => a + b, 0);
      return [
        r.id,
        r.name ?? '-',
        r.releaseVersion,
        r.fleetName,
        r.state,
        `${r.currentPhase + 1}/${r.phases.length}`,
        `${r.counts.succeeded ?? 0}/${total}`,
        when(r.createdAt),
      ];
    });
    return {
      data: page.items,
      text:
        rows.length === 0
          ? 'no rollouts\n'
          : table(['ID', 'NAME', 'RELEASE', 'FLEET', 'STATE', 'PHASE', 'SUCCEEDED', 'CREATED'], rows),
    };
  },
});

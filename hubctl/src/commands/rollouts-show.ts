import { z } from 'zod';
import { defineCommand } from '../cli/command.js';
import { fields, table, when } from '../cli/format.js';
import { ROLLOUT_DEVICE_STATES, type Phase } from '@fleet/protocol';
import { rolloutsApi } from './rollouts-api.js';

const phaseText = (p: Phase) =>
  `${'count' in p ? `${p.count}` : `${p.percent}%`}${p.bakeSeconds ? ` (bake ${p.bakeSeconds}s)` : ''}`;

export default defineCommand({
  path: ['rollouts', 'show'],
  summary: 'Show one rollout: state, phases, counts, and its devices (--devices).',
  args: [{ name: 'rollout', description: 'rollout id or name' }],
  options: [
    { flags: '--devices', description: 'also list every device with its state and reason' },
    { flags: '--state <state>', description: 'with --devices: only devices in this state' },
  ],
  json: true,
  input: z.object({
    rollout: z.string().min(1).max(200),
    devices: z.boolean().default(false),
    state: z.string().max(20).optional(),
  }),
  async run(input, ctx) {
    const api = await rolloutsApi(ctx);
    const r = await api.get(input.rollout);
    const head = fields([
      ['id', r.id],
      ['name', r.name ?? '-'],
      ['release', r.releaseVersion],
      [
        'fleet',
        `${r.fleetName}${r.tags.length ? ` tags ${r.tags.join(',')}` : ''}${r.deviceIds.length ? ` (${r.deviceIds.length} listed devices)` : ''}`,
      ],
      ['state', `${r.state}${r.stateReason ? `: ${r.stateReason}` : ''}`],
      ['phase', `${r.currentPhase + 1} of ${r.phases.length}: ${r.phases.map(phaseText).join(', ')}`],
      [
        'thresholds',
        `pause above ${r.maxFailurePercent}% failed, advance with ${r.minSuccessPercent}% succeeded`,
      ],
      [
        'devices',
        `${r.maxParallel} downloading at most, timed out after ${r.deviceTimeoutSeconds}s without progress, device bake ${r.deviceBakeSeconds}s${r.force ? ', forced' : ''}`,
      ],
      ['created', `${when(r.createdAt)} by ${r.createdBy}`],
      ['finished', when(r.finishedAt)],
    ]);
    const states = ROLLOUT_DEVICE_STATES;
    const phases = table(
      ['PHASE', 'DEVICES', ...states.map((s) => s.toUpperCase())],
      r.phaseCounts.map((p) => [
        String(p.phase + 1),
        String(p.total),
        ...states.map((s) => String(p.counts[s])),
      ]),
    );
    if (!input.devices) return { data: r, text: `${head}\n${phases}` };
    const devices = [];
    let cursor: string | undefined;
    do {
      const page = await api.devices(r.id, {
        ...(input.state ? { state: input.state } : {}),
        limit: 1000,
        ...(cursor ? { cursor } : {}),
      });
      devices.push(...page.items);
      cursor = page.nextCursor ?? undefined;
    } while (cursor);
    const list = table(
      ['DEVICE', 'NAME', 'PHASE', 'STATE', 'REASON'],
      devices.map((d) => [d.deviceId, d.deviceName, String(d.phase + 1), d.state, d.reason ?? '']),
    );
    return { data: { ...r, devices }, text: `${head}\n${phases}\n${list}` };
  },
});

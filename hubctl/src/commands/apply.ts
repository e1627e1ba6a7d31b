import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import type { Phase } from '@fleet/protocol';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { defineCommand } from '../cli/command.js';
import { HubctlError } from '../cli/errors.js';
import { Tag, Uuid } from './inputs.js';
import { DurationText, PercentText, phasesFrom, progressLine, rolloutsApi } from './rollouts-api.js';

const Duration = z.union([z.number().int().nonnegative(), DurationText]);
const Percent = z.union([z.number().min(0).max(100), PercentText]);
const PhaseSize = z.union([
  z.number().int().positive(),
  z.string().regex(/^(\d+|\d+(\.\d+)?%)$/, { error: 'is a device count (5) or a percent (10%)' }),
]);

/** `rollout.yaml`: one rollout, found again by its name (declarative, idempotent). */
export const RolloutFile = z.strictObject({
  kind: z.literal('Rollout', { error: 'must be "Rollout"' }),
  name: z
    .string()
    .regex(/^[a-z0-9][a-z0-9._-]{0,99}$/, { error: 'lower-case letters, digits, ".", "_" and "-"' }),
  release: z.union([z.string().min(1).max(200), z.number().transform(String)]),
  fleet: z.string().min(1).max(200),
  tags: z.array(Tag).max(20).default([]),
  devices: z.array(Uuid).max(10_000).default([]),
  /** `[1, 10%, 100%]`, `"1,10%,100%"`, or items `{size: 10%, bake: 5m}`. */
  phases: z
    .union([
      z.string(),
      z.array(z.union([PhaseSize, z.strictObject({ size: PhaseSize, bake: Duration.optional() })])),
    ])
    .default('100%'),
  bake: Duration.default(0),
  maxFailures: Percent.default(5),
  minSuccess: Percent.default(95),
  maxParallel: z.number().int().min(1).max(100_000).default(100),
  timeout: Duration.default(3_600),
  deviceBake: Duration.default(30),
  force: z.boolean().default(false),
});
export type RolloutFile = z.infer<typeof RolloutFile>;

export function phasesOf(f: RolloutFile): Phase[] {
  if (typeof f.phases === 'string') return phasesFrom(f.phases, f.bake);
  return f.phases.flatMap((p) => {
    const size = typeof p === 'object' ? p.size : p;
    const bake = typeof p === 'object' && p.bake !== undefined ? p.bake : f.bake;
    return phasesFrom(String(size), bake);
  });
}

export default defineCommand({
  path: ['apply'],
  summary:
    'Create or update a rollout from rollout.yaml (by its name; applying the same file twice changes nothing).',
  options: [{ flags: '-f, --file <path>', description: 'rollout file (YAML, kind: Rollout)' }],
  json: true,
  input: z.object({ file: z.string({ error: 'is required: the rollout file (rollout.yaml)' }).min(1) }),
  async run(input, ctx) {
    const path = resolve(ctx.cwd, input.file);
    const text = await readFile(path, 'utf8').catch((e: Error) => {
      throw new HubctlError(`cannot read ${path}: ${e.message}`);
    });
    let doc: unknown;
    try {
      doc = parseYaml(text);
    } catch (e) {
      throw new HubctlError(`${path} is not YAML: ${(e as Error).message}`);
    }
    const r = RolloutFile.safeParse(doc);
    if (!r.success) {
      throw new HubctlError(
        `${path} is not a valid rollout file:\n${r.error.issues.map((i) => `  ${i.path.join('.') || '(file)'}: ${i.message}`).join('\n')}`,
        'see docs/rollouts.md for the format',
      );
    }
    const f = r.data;
    const out = await (
      await rolloutsApi(ctx)
    ).apply(f.name, {
      release: f.release,
      fleet: f.fleet,
      tags: f.tags,
      deviceIds: f.devices,
      phases: phasesOf(f),
      maxFailurePercent: f.maxFailures,
      minSuccessPercent: f.minSuccess,
      maxParallel: f.maxParallel,
      deviceTimeoutSeconds: f.timeout,
      deviceBakeSeconds: f.deviceBake,
      force: f.force,
    });
    return {
      data: out,
      text: `rollout ${f.name} ${out.outcome} (${out.rollout.id}): ${progressLine(out.rollout)}\n`,
    };
  },
});

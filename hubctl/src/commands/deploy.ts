import {
  FINAL_ROLLOUT_STATES,
  type DryRunReport,
  type RolloutDetail,
  type RolloutSpecRequest,
} from '@fleet/protocol';
import cliProgress from 'cli-progress';
import { z } from 'zod';
import { defineCommand, type CommandContext } from '../cli/command.js';
import { HubctlError } from '../cli/errors.js';
import { bytes, table } from '../cli/format.js';
import { FleetRef, IntText, Tag, Uuid } from './inputs.js';
import {
  DurationText,
  PercentText,
  phasesFrom,
  progressLine,
  rolloutsApi,
  type RolloutsApi,
} from './rollouts-api.js';

export const DeployInput = z.object({
  release: z.string().min(1).max(200),
  fleet: FleetRef,
  tag: z.array(Tag).max(20).default([]),
  device: z.array(Uuid).max(10_000).default([]),
  name: z
    .string()
    .regex(/^[a-z0-9][a-z0-9._-]{0,99}$/, { error: 'lower-case letters, digits, ".", "_" and "-"' })
    .optional(),
  phases: z.string().default('100%'),
  bake: DurationText.default(0),
  maxFailures: PercentText.default(5),
  minSuccess: PercentText.default(95),
  maxParallel: IntText(1, 100_000).default(100),
  timeout: DurationText.default(3_600),
  deviceBake: DurationText.default(30),
  force: z.boolean().default(false),
  dryRun: z.boolean().default(false),
  wait: z.boolean().default(false),
  json: z.boolean().default(false),
});
export type DeployInput = z.infer<typeof DeployInput>;

export function specOf(input: DeployInput): RolloutSpecRequest {
  return {
    ...(input.name ? { name: input.name } : {}),
    release: input.release,
    fleet: input.fleet,
    tags: input.tag,
    deviceIds: input.device,
    phases: phasesFrom(input.phases, input.bake),
    maxFailurePercent: input.maxFailures,
    minSuccessPercent: input.minSuccess,
    maxParallel: input.maxParallel,
    deviceTimeoutSeconds: input.timeout,
    deviceBakeSeconds: input.deviceBake,
    force: input.force,
  };
}

export function dryRunText(r: DryRunReport): string {
  const s = r.summary;
  const head =
    `release ${r.release.version} (sequence ${r.release.sequence}, ${bytes(r.release.bytes)} of objects)\n` +
    `${s.devices} devices targeted, ${s.eligible} eligible, ${bytes(s.downloadBytes)} to download in total\n` +
    `phases: ${s.phaseSizes.join(' → ')} devices\n` +
    (s.alreadyCurrent ? `${s.alreadyCurrent} already run it\n` : '') +
    (s.insufficientSpace ? `${s.insufficientSpace} lack free space\n` : '') +
    (s.incompatibleBoard ? `${s.incompatibleBoard} have another board\n` : '') +
    (s.agentTooOld ? `${s.agentTooOld} run a too old agent\n` : '') +
    (s.failedBefore ? `${s.failedBefore} failed this release before\n` : '') +
    (s.unknownInventory ? `${s.unknownInventory} never reported their inventory\n` : '');
  const rows = table(
    ['DEVICE', 'NAME', 'BOARD', 'AGENT', 'RUNS', 'DOWNLOAD', 'FREE', 'OK', 'PROBLEMS'],
    r.devices.map((d) => [
      d.deviceId,
      d.name,
      d.board,
      d.agentVersion,
      d.currentRelease ?? '-',
      bytes(d.downloadBytes),
      d.freeBytes === null ? '?' : bytes(d.freeBytes),
      d.eligible ? 'yes' : 'no',
      d.problems.join('; '),
    ]),
  );
  return `${head}\n${rows}`;
}

/**
 * Follows a rollout until it is final or paused (Ctrl-C stops following, not the rollout). A
 * terminal draws a bar of finished devices; elsewhere one line per change.
 */
export async function follow(
  api: RolloutsApi,
  id: string,
  ctx: CommandContext,
  pollMs = 1_000,
): Promise<RolloutDetail> {
  const terminal = ctx.stderr.isTTY === true && process.stderr.isTTY ? process.stderr : undefined;
  let bar: cliProgress.SingleBar | undefined;
  let last = '';
  try {
    for (;;) {
      const r = await api.get(id);
      const total = Object.values(r.counts).reduce((a, b) => a + b, 0);
      const finished =
        (r.counts.succeeded ?? 0) +
        (r.counts.failed ?? 0) +
        (r.counts['rolled-back'] ?? 0) +
        (r.counts['timed-out'] ?? 0);
      const line = progressLine(r);
      if (terminal) {
        if (!bar) {
          bar = new cliProgress.SingleBar(
            {
              stream: terminal,
              format: 'rollout [{bar}] {value}/{total} devices | {line}',
              hideCursor: true,
            },
            cliProgress.Presets.shades_classic,
          );
          bar.start(total, finished, { line });
        }
        bar.setTotal(total);
        bar.update(finished, { line });
      } else if (line !== last) {
        ctx.stderr.write(`${line}\n`);
      }
      last = line;
      if ((FINAL_ROLLOUT_STATES as readonly string[]).includes(r.state) || r.state === 'paused') return r;
      await new Promise<void>((resolve, reject) => {
        const t = setTimeout(resolve, pollMs);
        ctx.signal.addEventListener(
          'abort',
          () => (
            clearTimeout(t),
            reject(
              new HubctlError(
                'stopped following; the rollout goes on',
                `see it with \`hubctl rollouts show ${id}\``,
              ),
            )
          ),
          { once: true },
        );
      });
    }
  } finally {
    bar?.stop();
  }
}

/** A wait that ends anywhere but `completed` is a failure for scripts (exit 1). */
export function requireCompleted(r: RolloutDetail): void {
  if (r.state === 'completed') return;
  throw new HubctlError(
    `rollout ${r.name ?? r.id} is ${r.state}${r.stateReason ? `: ${r.stateReason}` : ''}`,
    r.state === 'paused'
      ? `inspect with \`hubctl rollouts show ${r.id}\`, then \`hubctl rollouts resume|abort|rollback ${r.id}\``
      : undefined,
  );
}

export default defineCommand({
  path: ['deploy'],
  summary:
    'Roll a release out to a fleet in phases, gated on device health (--dry-run: predict it, change nothing).',
  args: [{ name: 'release', description: 'release version or id' }],
  options: [
    { flags: '--fleet <fleet>', description: 'target fleet (name or id)' },
    {
      flags: '--tag <k=v>',
      description: 'only devices with this tag (repeatable: all must match)',
      repeatable: true,
    },
    { flags: '--device <id>', description: 'only these devices (repeatable)', repeatable: true },
    { flags: '--name <name>', description: 'a name for the rollout (unique)' },
    {
      flags: '--phases <list>',
      description: 'cumulative phase sizes, counts or percents (default 100%), e.g. 1,10%,50%,100%',
    },
    {
      flags: '--bake <duration>',
      description: 'how long each finished phase must stay healthy before the next (e.g. 10m; default 0)',
    },
    {
      flags: '--max-failures <percent>',
      description: 'pause when more than this share of devices fail (default 5%)',
    },
    {
      flags: '--min-success <percent>',
      description: 'a phase advances only with this share succeeded (default 95%)',
    },
    { flags: '--max-parallel <n>', description: 'devices downloading at once (default 100)' },
    {
      flags: '--timeout <duration>',
      description: 'a device without progress for this long is timed out (default 1h)',
    },
    {
      flags: '--device-bake <duration>',
      description: "the device's own health gate before it commits (default 30s)",
    },
    { flags: '--force', description: 'also send the release to devices where it failed before' },
    {
      flags: '--dry-run',
      description: 'print what each device would download and whether it can install it; change nothing',
    },
    {
      flags: '--wait',
      description: 'follow the rollout until it completes (exit 1 if it pauses, aborts or rolls back)',
    },
  ],
  json: true,
  input: DeployInput,
  async run(input, ctx) {
    const api = await rolloutsApi(ctx);
    const spec = specOf(input);
    if (input.dryRun) {
      const report = await api.dryRun(spec);
      return { data: report, text: dryRunText(report) };
    }
    const created = await api.create(spec);
    ctx.stderr.write(
      `rollout ${created.id} of ${created.releaseVersion} to ${created.fleetName}: ${created.phaseCounts.map((p) => p.total).join(' → ')} devices\n`,
    );
    if (!input.wait) return { data: created, text: `${created.id}\n` };
    const final = await follow(api, created.id, ctx);
    if (input.json) ctx.stdout.write(`${JSON.stringify(final, null, 2)}\n`);
    requireCompleted(final);
    return input.json ? undefined : { data: final, text: `${progressLine(final)}\n` };
  },
});

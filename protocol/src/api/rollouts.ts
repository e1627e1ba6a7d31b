import { z } from 'zod';
import { ApiDate } from './common.js';

// The hub's rollouts API (hub/src/rollouts: rollout.types.ts, rollout.model.ts, rollout.dto.ts).
// Phases are 0-based; a phase is "up to N devices" or "up to P% of the target" in total.

/** Persisted literals: never renamed, only added. */
export const ROLLOUT_STATES = ['running', 'paused', 'completed', 'aborted', 'rolled-back'] as const;
export const RolloutState = z.enum(ROLLOUT_STATES);
export type RolloutState = z.infer<typeof RolloutState>;

/** A device's state within one rollout. Persisted literals: never renamed, only added. */
export const ROLLOUT_DEVICE_STATES = [
  'pending',
  'dispatched',
  'downloading',
  'installing',
  'testing',
  'succeeded',
  'failed',
  'rolled-back',
  'timed-out',
] as const;
export const RolloutDeviceState = z.enum(ROLLOUT_DEVICE_STATES);
export type RolloutDeviceState = z.infer<typeof RolloutDeviceState>;

/** A device counts as failed for a rollout's threshold in these states. */
export const FAILED_ROLLOUT_DEVICE_STATES = ['failed', 'rolled-back', 'timed-out'] as const;
/** A rollout in one of these states moves no more devices forward. */
export const FINAL_ROLLOUT_STATES = ['completed', 'aborted', 'rolled-back'] as const;

export const Phase = z.union([
  z.object({ count: z.number().int(), bakeSeconds: z.number().int() }),
  z.object({ percent: z.number(), bakeSeconds: z.number().int() }),
]);
export type Phase = z.infer<typeof Phase>;

/** Devices in each state; the hub sends every state, 0 included. */
export const RolloutStateCounts = z.object({
  pending: z.number().int(),
  dispatched: z.number().int(),
  downloading: z.number().int(),
  installing: z.number().int(),
  testing: z.number().int(),
  succeeded: z.number().int(),
  failed: z.number().int(),
  'rolled-back': z.number().int(),
  'timed-out': z.number().int(),
} satisfies Record<RolloutDeviceState, z.ZodType>);
export type RolloutStateCounts = z.infer<typeof RolloutStateCounts>;

/** Devices counted in `counts`. */
export function totalOf(counts: RolloutStateCounts): number {
  return ROLLOUT_DEVICE_STATES.reduce((n, s) => n + counts[s], 0);
}

/** Every rollout answer: the rollout with its release, fleet and counts per state and per phase. */
export const RolloutDetail = z.object({
  id: z.string(),
  name: z.string().nullable(),
  releaseId: z.string(),
  releaseVersion: z.string(),
  fleetId: z.string(),
  fleetName: z.string(),
  tags: z.array(z.string()),
  deviceIds: z.array(z.string()),
  phases: z.array(Phase),
  maxFailurePercent: z.number(),
  minSuccessPercent: z.number(),
  deviceTimeoutSeconds: z.number().int(),
  maxParallel: z.number().int(),
  deviceBakeSeconds: z.number().int(),
  force: z.boolean(),
  state: RolloutState,
  stateReason: z.string().nullable(),
  currentPhase: z.number().int(),
  bakeStartedAt: ApiDate.nullable(),
  acknowledgedFailures: z.number().int(),
  createdAt: ApiDate,
  createdBy: z.string(),
  updatedAt: ApiDate,
  finishedAt: ApiDate.nullable(),
  counts: RolloutStateCounts,
  phaseCounts: z.array(
    z.object({ phase: z.number().int(), total: z.number().int(), counts: RolloutStateCounts }),
  ),
});
export type RolloutDetail = z.infer<typeof RolloutDetail>;

/** `GET /rollouts/:rollout/devices` items. */
export const RolloutDevice = z.object({
  deviceId: z.string(),
  deviceName: z.string(),
  phase: z.number().int(),
  state: RolloutDeviceState,
  updateId: z.string(),
  reason: z.string().nullable(),
  previousReleaseId: z.string().nullable(),
  dispatchedAt: ApiDate.nullable(),
  lastProgressAt: ApiDate.nullable(),
  finishedAt: ApiDate.nullable(),
  dispatchCount: z.number().int(),
  rollbackUpdateId: z.string().nullable(),
});
export type RolloutDevice = z.infer<typeof RolloutDevice>;

export const DryRunDevice = z.object({
  deviceId: z.string(),
  name: z.string(),
  board: z.string(),
  agentVersion: z.string(),
  online: z.boolean(),
  currentRelease: z.string().nullable(),
  /** Bytes of the release's objects the device does not hold (from its reported inventory). */
  downloadBytes: z.number(),
  missingObjects: z.number().int(),
  freeBytes: z.number().nullable(),
  spaceOk: z.boolean(),
  boardOk: z.boolean(),
  agentOk: z.boolean(),
  alreadyCurrent: z.boolean(),
  failedBefore: z.boolean(),
  /** Would the device get the target and be able to install it. */
  eligible: z.boolean(),
  problems: z.array(z.string()),
});
export type DryRunDevice = z.infer<typeof DryRunDevice>;

/** `POST /rollouts/dry-run`. */
export const DryRunReport = z.object({
  release: z.object({
    id: z.string(),
    version: z.string(),
    sequence: z.number().int(),
    bytes: z.number(),
  }),
  fleetId: z.string(),
  summary: z.object({
    devices: z.number().int(),
    eligible: z.number().int(),
    downloadBytes: z.number(),
    alreadyCurrent: z.number().int(),
    insufficientSpace: z.number().int(),
    incompatibleBoard: z.number().int(),
    agentTooOld: z.number().int(),
    failedBefore: z.number().int(),
    unknownInventory: z.number().int(),
    /** Devices in each requested phase. */
    phaseSizes: z.array(z.number().int()),
  }),
  devices: z.array(DryRunDevice),
});
export type DryRunReport = z.infer<typeof DryRunReport>;

/** `PUT /rollouts/by-name/:name` (`hubctl apply`). */
export const ApplyRolloutResult = z.object({
  outcome: z.enum(['created', 'updated', 'unchanged']),
  rollout: RolloutDetail,
});
export type ApplyRolloutResult = z.infer<typeof ApplyRolloutResult>;

// ---- request bodies ----

/** The hub's RolloutSpec: the body of the creation, the dry run and `apply`. */
export const RolloutSpecRequest = z.object({
  /** Unique; `hubctl apply` finds the rollout by it. */
  name: z.string().optional(),
  /** Release id or version. */
  release: z.string(),
  /** Fleet id or name. */
  fleet: z.string(),
  tags: z.array(z.string()).optional(),
  deviceIds: z.array(z.string()).optional(),
  phases: z.array(Phase).optional(),
  maxFailurePercent: z.number().optional(),
  minSuccessPercent: z.number().optional(),
  deviceTimeoutSeconds: z.number().int().optional(),
  maxParallel: z.number().int().optional(),
  deviceBakeSeconds: z.number().int().optional(),
  force: z.boolean().optional(),
});
export type RolloutSpecRequest = z.input<typeof RolloutSpecRequest>;

/** The body of `POST /rollouts/:rollout/{pause,resume,abort,rollback}`. */
export const RolloutActionRequest = z.object({ reason: z.string().optional() });
export type RolloutActionRequest = z.input<typeof RolloutActionRequest>;

export const ROLLOUT_ACTIONS = ['pause', 'resume', 'abort', 'rollback'] as const;
export type RolloutAction = (typeof ROLLOUT_ACTIONS)[number];

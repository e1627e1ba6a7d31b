import { z } from 'zod';
import { IsoDate } from '../../../lib/schemas.js';

// The hub's rollouts API (hub/src/rollouts/rollout.types.ts, rollout.dto.ts), parsed at the
// boundary. Phases are 0-based; a phase is "up to N devices" or "up to P% of the target" in total.

export const ROLLOUT_STATES = ['running', 'paused', 'completed', 'aborted', 'rolled-back'] as const;
export const RolloutState = z.enum(ROLLOUT_STATES);
export type RolloutState = z.infer<typeof RolloutState>;

export const DEVICE_ROLLOUT_STATES = [
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
export type DeviceRolloutState = (typeof DEVICE_ROLLOUT_STATES)[number];

/** Devices per state; states with none may be left out. */
export const StateCounts = z.record(z.string(), z.number()).transform((r) => {
  const out = {} as Record<DeviceRolloutState, number>;
  for (const s of DEVICE_ROLLOUT_STATES) out[s] = r[s] ?? 0;
  return out;
});
export type StateCounts = Record<DeviceRolloutState, number>;

export function totalOf(counts: StateCounts): number {
  return DEVICE_ROLLOUT_STATES.reduce((n, s) => n + counts[s], 0);
}

export const Phase = z.union([
  z.object({ count: z.number(), bakeSeconds: z.number() }),
  z.object({ percent: z.number(), bakeSeconds: z.number() }),
]);
export type Phase = z.infer<typeof Phase>;

export const Rollout = z.object({
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
  deviceTimeoutSeconds: z.number(),
  maxParallel: z.number(),
  deviceBakeSeconds: z.number(),
  force: z.boolean(),
  state: RolloutState,
  stateReason: z.string().nullable(),
  currentPhase: z.number(),
  bakeStartedAt: IsoDate.nullable(),
  acknowledgedFailures: z.number(),
  createdAt: IsoDate,
  createdBy: z.string(),
  updatedAt: IsoDate,
  finishedAt: IsoDate.nullable(),
  counts: StateCounts,
  phaseCounts: z.array(z.object({ phase: z.number(), total: z.number(), counts: StateCounts })),
});
export type Rollout = z.infer<typeof Rollout>;

export const RolloutDevice = z.object({
  deviceId: z.string(),
  deviceName: z.string(),
  phase: z.number(),
  state: z.string(),
  updateId: z.string(),
  reason: z.string().nullable(),
  previousReleaseId: z.string().nullable(),
  dispatchedAt: IsoDate.nullable(),
  lastProgressAt: IsoDate.nullable(),
  finishedAt: IsoDate.nullable(),
  dispatchCount: z.number(),
});
export type RolloutDevice = z.infer<typeof RolloutDevice>;

export const DryRunDevice = z.object({
  deviceId: z.string(),
  name: z.string(),
  board: z.string(),
  agentVersion: z.string(),
  online: z.boolean(),
  currentRelease: z.string().nullable(),
  /** Bytes of the release's objects the device lacks, from its reported inventory. */
  downloadBytes: z.number(),
  missingObjects: z.number(),
  freeBytes: z.number().nullable(),
  spaceOk: z.boolean(),
  boardOk: z.boolean(),
  agentOk: z.boolean(),
  alreadyCurrent: z.boolean(),
  failedBefore: z.boolean(),
  eligible: z.boolean(),
  problems: z.array(z.string()),
});
export type DryRunDevice = z.infer<typeof DryRunDevice>;

export const DryRun = z.object({
  release: z.object({ id: z.string(), version: z.string(), sequence: z.number(), bytes: z.number() }),
  fleetId: z.string(),
  summary: z.object({
    devices: z.number(),
    eligible: z.number(),
    downloadBytes: z.number(),
    alreadyCurrent: z.number(),
    insufficientSpace: z.number(),
    incompatibleBoard: z.number(),
    agentTooOld: z.number(),
    failedBefore: z.number(),
    unknownInventory: z.number(),
    /** Devices in each requested phase. */
    phaseSizes: z.array(z.number()),
  }),
  devices: z.array(DryRunDevice),
});
export type DryRun = z.infer<typeof DryRun>;

/** The hub's RolloutSpec: the body of both the dry run and the creation. */
export interface CreateRolloutInput {
  name?: string;
  release: string;
  fleet: string;
  tags: string[];
  deviceIds: string[];
  phases: Phase[];
  maxFailurePercent: number;
  minSuccessPercent: number;
  deviceTimeoutSeconds: number;
  maxParallel: number;
  deviceBakeSeconds: number;
  force: boolean;
}

export type RolloutAction = 'pause' | 'resume' | 'abort' | 'rollback';

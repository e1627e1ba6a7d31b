import { z } from 'zod';
import { IsoDate } from '../../../lib/schemas.js';

// ASSUMED shapes: the hub's rollouts API is not written yet (issue 6). They follow the issue's
// vocabulary; docs/dashboard.md lists every endpoint and field this file expects.

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

/** Devices per state; states with none may be left out by the hub. */
export const StateCounts = z.record(z.string(), z.number()).transform((r) => {
  const out = {} as Record<DeviceRolloutState, number>;
  for (const s of DEVICE_ROLLOUT_STATES) out[s] = r[s] ?? 0;
  return out;
});
export type StateCounts = Record<DeviceRolloutState, number>;

export const RolloutPhase = z.object({
  index: z.number(),
  /** What the operator asked for: a device count or a percent of the target. */
  count: z.number().nullable().optional(),
  percent: z.number().nullable().optional(),
  bakeSeconds: z.number(),
  state: z.string(),
  deviceCount: z.number(),
  counts: StateCounts,
  startedAt: IsoDate.nullable().optional(),
  completedAt: IsoDate.nullable().optional(),
});
export type RolloutPhase = z.infer<typeof RolloutPhase>;

export const FailureByReason = z.object({ reason: z.string().nullable(), count: z.number() });

export const Rollout = z.object({
  id: z.string(),
  releaseId: z.string().optional(),
  releaseVersion: z.string(),
  fleetId: z.string().nullable().optional(),
  state: RolloutState,
  target: z
    .object({
      fleetId: z.string().nullable().optional(),
      tags: z.array(z.string()).default([]),
      deviceIds: z.array(z.string()).default([]),
    })
    .optional(),
  phases: z.array(RolloutPhase),
  currentPhase: z.number().nullable().optional(),
  total: z.number(),
  counts: StateCounts,
  failures: z.array(FailureByReason).default([]),
  thresholds: z.object({ maxFailurePercent: z.number(), minSuccessPercent: z.number() }).partial().optional(),
  pausedReason: z.string().nullable().optional(),
  createdAt: IsoDate,
  createdBy: z.string(),
  updatedAt: IsoDate.optional(),
});
export type Rollout = z.infer<typeof Rollout>;

export const RolloutDevice = z.object({
  deviceId: z.string(),
  deviceName: z.string(),
  phase: z.number(),
  state: z.string(),
  reason: z.string().nullable(),
  percent: z.number().nullable().optional(),
  updatedAt: IsoDate,
});
export type RolloutDevice = z.infer<typeof RolloutDevice>;

export const DryRunDevice = z.object({
  deviceId: z.string(),
  name: z.string(),
  board: z.string(),
  agentVersion: z.string(),
  /** Bytes of objects the device lacks, from its reported inventory. */
  downloadBytes: z.number(),
  freeBytes: z.number().nullable(),
  enoughSpace: z.boolean(),
  boardCompatible: z.boolean(),
  agentCompatible: z.boolean(),
  problems: z.array(z.string()).default([]),
});
export type DryRunDevice = z.infer<typeof DryRunDevice>;

export const DryRun = z.object({
  summary: z.object({
    devices: z.number(),
    eligible: z.number(),
    incompatibleBoard: z.number(),
    agentTooOld: z.number(),
    insufficientSpace: z.number(),
    totalDownloadBytes: z.number(),
  }),
  phases: z.array(z.object({ index: z.number(), deviceCount: z.number() })).default([]),
  devices: z.array(DryRunDevice),
});
export type DryRun = z.infer<typeof DryRun>;

/** A phase as the wizard sends it. */
export type PhaseInput = { count: number; bakeSeconds: number } | { percent: number; bakeSeconds: number };

export interface CreateRolloutInput {
  release: string;
  target: { fleetId: string; tags: string[]; deviceIds: string[] };
  phases: PhaseInput[];
  thresholds: { maxFailurePercent: number; minSuccessPercent: number };
  deviceDeadlineSeconds: number;
  maxParallelDownloads: number;
}

export type RolloutAction = 'pause' | 'resume' | 'abort' | 'rollback';

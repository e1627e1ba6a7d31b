import { z } from 'zod';
import { Phase, RolloutDeviceState, RolloutState } from './rollout.model.js';

const Tag = z
  .string()
  .min(1)
  .max(200)
  .regex(/^[^=\s]+(=[^\s]*)?$/, { error: 'a tag is key or key=value, without spaces' });
const Percent = z.number().min(0).max(100);

/** A rollout as an operator asks for it (POST /rollouts, dry run, `hubctl apply`). */
export const RolloutSpec = z.strictObject({
  /** Optional unique name; `hubctl apply` finds the rollout by it. */
  name: z
    .string()
    .min(1)
    .max(100)
    .regex(/^[a-z0-9][a-z0-9._-]*$/, { error: 'lower-case letters, digits, ".", "_" and "-"' })
    .optional(),
  /** Release id or version. */
  release: z.string().min(1).max(200),
  /** Fleet id or name. */
  fleet: z.string().min(1).max(200),
  tags: z.array(Tag).max(20).default([]),
  deviceIds: z.array(z.uuid()).max(10_000).default([]),
  phases: z
    .array(Phase)
    .min(1)
    .max(20)
    .default([{ percent: 100, bakeSeconds: 0 }]),
  /** Failures above this percent of the devices targeted so far pause the rollout. */
  maxFailurePercent: Percent.default(5),
  /** A finished phase advances only with at least this percent succeeded. */
  minSuccessPercent: Percent.default(95),
  /** A device with no progress for this long is `timed-out`. */
  deviceTimeoutSeconds: z
    .number()
    .int()
    .min(5)
    .max(7 * 86_400)
    .default(3_600),
  /** At most this many devices downloading at once. */
  maxParallel: z.number().int().min(1).max(100_000).default(100),
  /** The device's own health gate before it commits (Target.bakeSeconds). */
  deviceBakeSeconds: z.number().int().min(0).max(86_400).default(30),
  /** Also send the release to devices where it failed before. */
  force: z.boolean().default(false),
});
export type RolloutSpec = z.infer<typeof RolloutSpec>;

export const ListRolloutsQuery = z.strictObject({
  fleet: z.string().max(200).optional(),
  state: RolloutState.optional(),
  limit: z.coerce.number().int().min(1).max(500).default(50),
  cursor: z.string().max(200).optional(),
});
export type ListRolloutsQuery = z.infer<typeof ListRolloutsQuery>;

export const ListRolloutDevicesQuery = z.strictObject({
  state: RolloutDeviceState.optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(200),
  cursor: z.uuid().optional(),
});
export type ListRolloutDevicesQuery = z.infer<typeof ListRolloutDevicesQuery>;

export const ActionRequest = z.strictObject({ reason: z.string().max(2000).optional() });
export type ActionRequest = z.infer<typeof ActionRequest>;

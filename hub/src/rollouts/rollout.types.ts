import {
  ApplyRolloutResult as ApiApplyRolloutResult,
  RolloutDetail as ApiRolloutDetail,
  RolloutDevice as ApiRolloutDevice,
  type RolloutStateCounts,
} from '@fleet/protocol';
import { z } from 'zod';

// protocol's rollout answers (decision 0091) with the hub's Dates where the wire has ISO text.
// The dry run's report has no dates: it is protocol's as it is.
export { DryRunDevice, DryRunReport } from '@fleet/protocol';

export const RolloutDetail = ApiRolloutDetail.extend({
  bakeStartedAt: z.date().nullable(),
  createdAt: z.date(),
  updatedAt: z.date(),
  finishedAt: z.date().nullable(),
});
export type RolloutDetail = z.infer<typeof RolloutDetail>;

/** A rollout row, without what `detail` adds (release version, fleet name, counts). */
export type Rollout = Omit<RolloutDetail, 'releaseVersion' | 'fleetName' | 'counts' | 'phaseCounts'>;

export type DeviceStateCounts = RolloutStateCounts;

/** `PUT /rollouts/by-name/:name` (`hubctl apply`). */
export const ApplyRolloutResult = ApiApplyRolloutResult.extend({ rollout: RolloutDetail });
export type ApplyRolloutResult = z.infer<typeof ApplyRolloutResult>;

export const RolloutDevice = ApiRolloutDevice.extend({
  dispatchedAt: z.date().nullable(),
  lastProgressAt: z.date().nullable(),
  finishedAt: z.date().nullable(),
});
export type RolloutDevice = z.infer<typeof RolloutDevice>;

/** What the engine and the dry run need to know of a targeted device. */
export interface DeviceFacts {
  id: string;
  name: string;
  board: string;
  agentVersion: string;
  online: boolean;
  currentRevisionDigest: string | null;
  currentRelease: string | null;
  failedRevisions: string[];
  /** From the last report (protocol Report.inventory); empty when the device never reported. */
  inventory: { objects: string[]; freeBytes: number | null; totalBytes: number | null };
}

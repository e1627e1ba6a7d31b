import type { Phase, RolloutDeviceState, RolloutState } from './rollout.model.js';

export interface Rollout {
  id: string;
  name: string | null;
  releaseId: string;
  fleetId: string;
  tags: string[];
  deviceIds: string[];
  phases: Phase[];
  maxFailurePercent: number;
  minSuccessPercent: number;
  deviceTimeoutSeconds: number;
  maxParallel: number;
  deviceBakeSeconds: number;
  force: boolean;
  state: RolloutState;
  stateReason: string | null;
  currentPhase: number;
  bakeStartedAt: Date | null;
  acknowledgedFailures: number;
  createdAt: Date;
  createdBy: string;
  updatedAt: Date;
  finishedAt: Date | null;
}

export type DeviceStateCounts = Record<RolloutDeviceState, number>;

export interface RolloutDetail extends Rollout {
  releaseVersion: string;
  fleetName: string;
  counts: DeviceStateCounts;
  /** Per phase: devices in it and how many of them in each state. */
  phaseCounts: Array<{ phase: number; total: number; counts: DeviceStateCounts }>;
}

export interface RolloutDevice {
  deviceId: string;
  deviceName: string;
  phase: number;
  state: RolloutDeviceState;
  updateId: string;
  reason: string | null;
  previousReleaseId: string | null;
  dispatchedAt: Date | null;
  lastProgressAt: Date | null;
  finishedAt: Date | null;
  dispatchCount: number;
  rollbackUpdateId: string | null;
}

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

export interface DryRunDevice {
  deviceId: string;
  name: string;
  board: string;
  agentVersion: string;
  online: boolean;
  currentRelease: string | null;
  /** Bytes of the release's objects the device does not hold. */
  downloadBytes: number;
  missingObjects: number;
  freeBytes: number | null;
  spaceOk: boolean;
  boardOk: boolean;
  agentOk: boolean;
  alreadyCurrent: boolean;
  failedBefore: boolean;
  /** Would the device get the target and be able to install it. */
  eligible: boolean;
  problems: string[];
}

export interface DryRunReport {
  release: { id: string; version: string; sequence: number; bytes: number };
  fleetId: string;
  summary: {
    devices: number;
    eligible: number;
    downloadBytes: number;
    alreadyCurrent: number;
    insufficientSpace: number;
    incompatibleBoard: number;
    agentTooOld: number;
    failedBefore: number;
    unknownInventory: number;
    /** Devices per phase with the requested phases. */
    phaseSizes: number[];
  };
  devices: DryRunDevice[];
}

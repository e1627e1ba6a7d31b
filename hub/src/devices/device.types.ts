import type { CommandAck } from '@fleet/protocol';

export interface Device {
  id: string;
  fleetId: string;
  name: string;
  hardwareId: string;
  board: string;
  agentVersion: string;
  tags: string[];
  online: boolean;
  lastSeenAt: Date;
  currentRelease: string | null;
  currentRevisionDigest: string | null;
  currentSequence: number | null;
  updateState: string;
  updateStatus: string | null;
  updateReason: string | null;
  failedRevisions: string[];
  createdAt: Date;
  decommissionedAt: Date | null;
}

export interface DeviceContainer {
  name: string;
  state: string;
  restartCount: number;
  exitCode: number | null;
  startedAt: Date | null;
  message: string | null;
  updatedAt: Date;
}

export interface DeviceDetail extends Device {
  publicKey: string;
  bootId: string | null;
  credentialsRotatedAt: Date;
  inventory: Record<string, unknown>;
  containers: DeviceContainer[];
}

export interface ContainerEvent {
  id: string;
  name: string;
  fromState: string | null;
  toState: string;
  restartCount: number;
  message: string | null;
  at: Date;
}

export const DEVICE_STATUSES = ['online', 'offline', 'updating', 'failed'] as const;
export type DeviceStatusFilter = (typeof DEVICE_STATUSES)[number];

export const DEVICE_SORTS = [
  'name',
  '-name',
  'lastSeenAt',
  '-lastSeenAt',
  'createdAt',
  '-createdAt',
] as const;
export type DeviceSort = (typeof DEVICE_SORTS)[number];

export interface DeviceListFilter {
  fleetId?: string | undefined;
  tags: string[];
  status?: DeviceStatusFilter | undefined;
  release?: string | undefined;
  q?: string | undefined;
  includeDecommissioned: boolean;
}

/** Position after the last row of a page: the sort key's value and the id. */
export interface DeviceCursor {
  key: string;
  id: string;
}

export interface DeviceSummary {
  total: number;
  online: number;
  offline: number;
  updating: number;
  failed: number;
  releases: Array<{ release: string | null; count: number }>;
}

export type CommandStatus =
  'pending' | 'sent' | 'accepted' | 'done' | 'failed' | 'rejected' | 'publish_failed';

export interface DeviceCommand {
  id: string;
  deviceId: string;
  kind: string;
  params: Record<string, unknown>;
  status: CommandStatus;
  createdAt: Date;
  createdBy: string;
  sentAt: Date | null;
  ackAt: Date | null;
  message: string | null;
}

export type CommandAckInput = CommandAck;

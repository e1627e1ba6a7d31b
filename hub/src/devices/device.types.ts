import type { CommandAck } from '@fleet/protocol';
import { z } from 'zod';

// Response types are zod schemas (CONVENTIONS 1): the TypeScript types and the OpenAPI
// response schemas come from the same definition.

export const Device = z.object({
  id: z.string(),
  fleetId: z.string(),
  name: z.string(),
  hardwareId: z.string(),
  board: z.string(),
  agentVersion: z.string(),
  tags: z.array(z.string()),
  online: z.boolean(),
  lastSeenAt: z.date(),
  currentRelease: z.string().nullable(),
  currentRevisionDigest: z.string().nullable(),
  currentSequence: z.number().int().nullable(),
  /** Agent update state (protocol UpdateState). */
  updateState: z.string(),
  /** Last reported update outcome (protocol ReportedStatus). */
  updateStatus: z.string().nullable(),
  updateReason: z.string().nullable(),
  failedRevisions: z.array(z.string()),
  createdAt: z.date(),
  decommissionedAt: z.date().nullable(),
});
export type Device = z.infer<typeof Device>;

export const DeviceContainer = z.object({
  name: z.string(),
  state: z.string(),
  restartCount: z.number().int(),
  exitCode: z.number().int().nullable(),
  startedAt: z.date().nullable(),
  message: z.string().nullable(),
  updatedAt: z.date(),
});
export type DeviceContainer = z.infer<typeof DeviceContainer>;

export const DeviceDetail = Device.extend({
  publicKey: z.string(),
  bootId: z.string().nullable(),
  credentialsRotatedAt: z.date(),
  inventory: z.record(z.string(), z.unknown()),
  containers: z.array(DeviceContainer),
});
export type DeviceDetail = z.infer<typeof DeviceDetail>;

export const ContainerEvent = z.object({
  id: z.string(),
  name: z.string(),
  fromState: z.string().nullable(),
  toState: z.string(),
  restartCount: z.number().int(),
  message: z.string().nullable(),
  at: z.date(),
});
export type ContainerEvent = z.infer<typeof ContainerEvent>;

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

export const DeviceSummary = z.object({
  total: z.number().int(),
  online: z.number().int(),
  offline: z.number().int(),
  updating: z.number().int(),
  failed: z.number().int(),
  releases: z.array(z.object({ release: z.string().nullable(), count: z.number().int() })),
});
export type DeviceSummary = z.infer<typeof DeviceSummary>;

export const CommandStatus = z.enum([
  'pending',
  'sent',
  'accepted',
  'done',
  'failed',
  'rejected',
  'publish_failed',
]);
export type CommandStatus = z.infer<typeof CommandStatus>;

export const DeviceCommand = z.object({
  id: z.string(),
  deviceId: z.string(),
  kind: z.string(),
  params: z.record(z.string(), z.unknown()),
  status: CommandStatus,
  createdAt: z.date(),
  createdBy: z.string(),
  sentAt: z.date().nullable(),
  ackAt: z.date().nullable(),
  message: z.string().nullable(),
});
export type DeviceCommand = z.infer<typeof DeviceCommand>;

export type CommandAckInput = CommandAck;

import { z } from 'zod';
import { ApiDate } from './common.js';

export const Device = z.object({
  id: z.string(),
  fleetId: z.string(),
  name: z.string(),
  hardwareId: z.string(),
  board: z.string(),
  agentVersion: z.string(),
  tags: z.array(z.string()),
  online: z.boolean(),
  lastSeenAt: ApiDate,
  currentRelease: z.string().nullable(),
  currentRevisionDigest: z.string().nullable(),
  currentSequence: z.number().int().nullable(),
  /** The agent's update state (UpdateState); text so that a newer agent's state still reads. */
  updateState: z.string(),
  /** Last reported update outcome (ReportedStatus). */
  updateStatus: z.string().nullable(),
  updateReason: z.string().nullable(),
  failedRevisions: z.array(z.string()),
  createdAt: ApiDate,
  decommissionedAt: ApiDate.nullable(),
});
export type Device = z.infer<typeof Device>;

export const DeviceContainer = z.object({
  name: z.string(),
  state: z.string(),
  restartCount: z.number().int(),
  exitCode: z.number().int().nullable(),
  startedAt: ApiDate.nullable(),
  message: z.string().nullable(),
  updatedAt: ApiDate,
});
export type DeviceContainer = z.infer<typeof DeviceContainer>;

/** `GET /devices/:id`. */
export const DeviceDetail = Device.extend({
  publicKey: z.string(),
  bootId: z.string().nullable(),
  credentialsRotatedAt: ApiDate,
  inventory: z.record(z.string(), z.unknown()),
  containers: z.array(DeviceContainer),
});
export type DeviceDetail = z.infer<typeof DeviceDetail>;

/** `GET /devices/:id/containers/history` items. */
export const ContainerEvent = z.object({
  id: z.string(),
  name: z.string(),
  fromState: z.string().nullable(),
  toState: z.string(),
  restartCount: z.number().int(),
  message: z.string().nullable(),
  at: ApiDate,
});
export type ContainerEvent = z.infer<typeof ContainerEvent>;

/** `GET /devices/summary`. */
export const DeviceSummary = z.object({
  total: z.number().int(),
  online: z.number().int(),
  offline: z.number().int(),
  updating: z.number().int(),
  failed: z.number().int(),
  releases: z.array(z.object({ release: z.string().nullable(), count: z.number().int() })),
});
export type DeviceSummary = z.infer<typeof DeviceSummary>;

/** `GET /devices?status=`: the list's status filter. */
export const DEVICE_STATUSES = ['online', 'offline', 'updating', 'failed'] as const;
export type DeviceStatus = (typeof DEVICE_STATUSES)[number];

/** `GET /devices?sort=`. */
export const DEVICE_SORTS = [
  'name',
  '-name',
  'lastSeenAt',
  '-lastSeenAt',
  'createdAt',
  '-createdAt',
] as const;
export type DeviceSort = (typeof DEVICE_SORTS)[number];

/** `GET /tags`: each tag in use and how many devices carry it. */
export const TagCount = z.object({ tag: z.string(), count: z.number().int() });
export type TagCount = z.infer<typeof TagCount>;

/** `POST /devices/tags`. */
export const BulkTagResult = z.object({ updated: z.number().int() });
export type BulkTagResult = z.infer<typeof BulkTagResult>;

export const COMMAND_STATUSES = [
  'pending',
  'sent',
  'accepted',
  'done',
  'failed',
  'rejected',
  'publish_failed',
] as const;
export const CommandStatus = z.enum(COMMAND_STATUSES);
export type CommandStatus = z.infer<typeof CommandStatus>;

export const DeviceCommand = z.object({
  id: z.string(),
  deviceId: z.string(),
  kind: z.string(),
  params: z.record(z.string(), z.unknown()),
  status: CommandStatus,
  createdAt: ApiDate,
  createdBy: z.string(),
  sentAt: ApiDate.nullable(),
  ackAt: ApiDate.nullable(),
  message: z.string().nullable(),
});
export type DeviceCommand = z.infer<typeof DeviceCommand>;

/** `POST /devices/commands`: one entry per device, the command or why it was not sent. */
export const BulkCommandResult = z.object({
  deviceId: z.string(),
  command: DeviceCommand.nullable(),
  error: z.string().nullable(),
});
export type BulkCommandResult = z.infer<typeof BulkCommandResult>;

/** `POST /devices/:id/credentials`: new broker credentials (shown once). */
export const DeviceCredentials = z.object({
  username: z.string(),
  password: z.string(),
  clientId: z.string(),
});
export type DeviceCredentials = z.infer<typeof DeviceCredentials>;

/** `GET /devices/:id/logs` items (newest first). */
export const StoredLogLine = z.object({
  id: z.string(),
  deviceId: z.string(),
  source: z.string(),
  stream: z.string(),
  at: ApiDate,
  text: z.string(),
});
export type StoredLogLine = z.infer<typeof StoredLogLine>;

/** `GET /devices/:id/telemetry`: a time bucket, averages of each metric (uptime: the maximum). */
export const TelemetryPoint = z.object({
  at: ApiDate,
  samples: z.number().int(),
  cpuPercent: z.number().nullable(),
  memUsedBytes: z.number().nullable(),
  memTotalBytes: z.number().nullable(),
  diskUsedBytes: z.number().nullable(),
  diskTotalBytes: z.number().nullable(),
  temperatureC: z.number().nullable(),
  uptimeSeconds: z.number().nullable(),
});
export type TelemetryPoint = z.infer<typeof TelemetryPoint>;

/** `GET /devices/:id/updates` items: one Progress message of the device, as stored. */
export const UpdateEvent = z.object({
  id: z.string(),
  updateId: z.string(),
  /** ReportedStatus. */
  status: z.string(),
  /** UpdateState. */
  state: z.string(),
  releaseVersion: z.string(),
  revisionDigest: z.string(),
  percent: z.number(),
  reason: z.string().nullable(),
  message: z.string().nullable(),
  failedBootLog: z.string().nullable(),
  at: ApiDate,
});
export type UpdateEvent = z.infer<typeof UpdateEvent>;

// ---- request bodies ----

export const UpdateDeviceRequest = z.object({
  name: z.string().optional(),
  /** Moves the device to another fleet. */
  fleetId: z.string().optional(),
});
export type UpdateDeviceRequest = z.input<typeof UpdateDeviceRequest>;

export const SetTagsRequest = z.object({ tags: z.array(z.string()) });
export type SetTagsRequest = z.input<typeof SetTagsRequest>;

export const BulkTagRequest = z.object({
  deviceIds: z.array(z.string()),
  add: z.array(z.string()).optional(),
  remove: z.array(z.string()).optional(),
});
export type BulkTagRequest = z.input<typeof BulkTagRequest>;

export const CreateCommandRequest = z.union([
  z.object({ kind: z.literal('reboot') }),
  z.object({ kind: z.literal('restart-container'), container: z.string() }),
  z.object({
    kind: z.literal('upload-logs'),
    /** ISO 8601 with offset. */
    since: z.string().optional(),
    container: z.string().optional(),
  }),
]);
export type CreateCommandRequest = z.input<typeof CreateCommandRequest>;

export const BulkCommandRequest = z.object({
  deviceIds: z.array(z.string()),
  command: CreateCommandRequest,
});
export type BulkCommandRequest = z.input<typeof BulkCommandRequest>;

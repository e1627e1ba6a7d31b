import { ContainerName } from '@fleet/protocol';
import { z } from 'zod';
import { Tag } from '../fleets/fleet.dto.js';
import { QueryBool, repeatable } from '../common/validation.js';
import { DEVICE_SORTS, DEVICE_STATUSES } from './device.types.js';

export const ListDevicesQuery = z.strictObject({
  fleetId: z.uuid().optional(),
  /** Repeatable; a device must carry every tag given. */
  tag: repeatable(Tag).optional(),
  status: z.enum(DEVICE_STATUSES).optional(),
  /** Release version the device runs. */
  release: z.string().max(128).optional(),
  /** Case-insensitive substring of name or hardware id, or an exact device id. */
  q: z.string().min(1).max(128).optional(),
  sort: z.enum(DEVICE_SORTS).default('name'),
  limit: z.coerce.number().int().min(1).max(500).default(50),
  cursor: z.string().max(500).optional(),
  includeDecommissioned: QueryBool.default(false),
});
export type ListDevicesQuery = z.infer<typeof ListDevicesQuery>;

export const DeviceSummaryQuery = z.strictObject({
  fleetId: z.uuid().optional(),
  tag: repeatable(Tag).optional(),
});
export type DeviceSummaryQuery = z.infer<typeof DeviceSummaryQuery>;

export const UpdateDeviceRequest = z
  .strictObject({
    name: z.string().min(1).max(128).optional(),
    /** Moves the device to another fleet. */
    fleetId: z.uuid().optional(),
  })
  .refine((v) => v.name !== undefined || v.fleetId !== undefined, { message: 'give name or fleetId' });
export type UpdateDeviceRequest = z.infer<typeof UpdateDeviceRequest>;

export const SetTagsRequest = z.strictObject({ tags: z.array(Tag).max(50) });
export type SetTagsRequest = z.infer<typeof SetTagsRequest>;

export const BulkTagRequest = z
  .strictObject({
    deviceIds: z.array(z.uuid()).min(1).max(1000),
    add: z.array(Tag).max(50).default([]),
    remove: z.array(Tag).max(50).default([]),
  })
  .refine((v) => v.add.length + v.remove.length > 0, { message: 'give tags to add or remove' });
export type BulkTagRequest = z.infer<typeof BulkTagRequest>;

export const CreateCommandRequest = z.discriminatedUnion('kind', [
  z.strictObject({ kind: z.literal('reboot') }),
  z.strictObject({ kind: z.literal('restart-container'), container: ContainerName }),
  z.strictObject({
    kind: z.literal('upload-logs'),
    since: z.iso.datetime({ offset: true }).optional(),
    container: ContainerName.optional(),
  }),
]);
export type CreateCommandRequest = z.infer<typeof CreateCommandRequest>;

export const HistoryQuery = z.strictObject({
  limit: z.coerce.number().int().min(1).max(500).default(100),
  cursor: z.string().max(200).optional(),
});
export type HistoryQuery = z.infer<typeof HistoryQuery>;

export const BulkCommandRequest = z.strictObject({
  deviceIds: z.array(z.uuid()).min(1).max(1000),
  command: CreateCommandRequest,
});
export type BulkCommandRequest = z.infer<typeof BulkCommandRequest>;

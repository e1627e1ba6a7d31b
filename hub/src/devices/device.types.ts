import {
  BulkCommandResult as ApiBulkCommandResult,
  ContainerEvent as ApiContainerEvent,
  Device as ApiDevice,
  DeviceCommand as ApiDeviceCommand,
  DeviceContainer as ApiDeviceContainer,
  DeviceDetail as ApiDeviceDetail,
  type DeviceStatus,
} from '@fleet/protocol';
import { z } from 'zod';

// protocol's device answers (decisions 0004, 0091) with the hub's Dates where the wire has ISO
// text: the hub builds these from Prisma rows and documents them with @Returns. Answers without
// dates are protocol's as they are.
export {
  BulkTagResult,
  CommandStatus,
  DEVICE_SORTS,
  DEVICE_STATUSES,
  DeviceCredentials,
  DeviceSummary,
  TagCount,
  type DeviceSort,
} from '@fleet/protocol';

const DeviceDates = {
  lastSeenAt: z.date(),
  createdAt: z.date(),
  decommissionedAt: z.date().nullable(),
};

export const Device = ApiDevice.extend(DeviceDates);
export type Device = z.infer<typeof Device>;

export const DeviceContainer = ApiDeviceContainer.extend({
  startedAt: z.date().nullable(),
  updatedAt: z.date(),
});
export type DeviceContainer = z.infer<typeof DeviceContainer>;

export const DeviceDetail = ApiDeviceDetail.extend({
  ...DeviceDates,
  credentialsRotatedAt: z.date(),
  containers: z.array(DeviceContainer),
});
export type DeviceDetail = z.infer<typeof DeviceDetail>;

export const ContainerEvent = ApiContainerEvent.extend({ at: z.date() });
export type ContainerEvent = z.infer<typeof ContainerEvent>;

export const DeviceCommand = ApiDeviceCommand.extend({
  createdAt: z.date(),
  sentAt: z.date().nullable(),
  ackAt: z.date().nullable(),
});
export type DeviceCommand = z.infer<typeof DeviceCommand>;

/** `POST /devices/commands`: one entry per device, the command or why it was not sent. */
export const BulkCommandResult = ApiBulkCommandResult.extend({ command: DeviceCommand.nullable() });
export type BulkCommandResult = z.infer<typeof BulkCommandResult>;

/** `GET /devices?status=`. */
export type DeviceStatusFilter = DeviceStatus;

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

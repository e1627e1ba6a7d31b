import {
  BulkCommandResult,
  DeviceCommand,
  type BulkCommandRequest,
  type CreateCommandRequest,
} from '@fleet/protocol/browser';
import { queryOptions, useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { z } from 'zod';
import type { ApiClient } from '../../../lib/api-client.js';
import { useApi } from '../../../lib/api-context.js';
import { BULK_LIMIT } from './bulk-tag-devices.js';
import { deviceKeys } from './keys.js';

export function sendCommand(
  api: ApiClient,
  deviceId: string,
  command: CreateCommandRequest,
): Promise<DeviceCommand> {
  return api.post(`/api/v1/devices/${encodeURIComponent(deviceId)}/commands`, DeviceCommand, command);
}

export function listCommands(
  api: ApiClient,
  deviceId: string,
  signal?: AbortSignal,
): Promise<DeviceCommand[]> {
  return api.get(
    `/api/v1/devices/${encodeURIComponent(deviceId)}/commands?limit=20`,
    z.array(DeviceCommand),
    signal,
  );
}

export function commandsQueryOptions(api: ApiClient, deviceId: string) {
  return queryOptions({
    queryKey: deviceKeys.commands(deviceId),
    queryFn: ({ signal }) => listCommands(api, deviceId, signal),
  });
}

export function useCommands(deviceId: string) {
  const api = useApi();
  return useQuery(commandsQueryOptions(api, deviceId));
}

export function useSendCommand(deviceId: string) {
  const api = useApi();
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (command: CreateCommandRequest) => sendCommand(api, deviceId, command),
    onSuccess: () => void qc.invalidateQueries({ queryKey: deviceKeys.commands(deviceId) }),
  });
}

export interface BulkOutcome {
  sent: number;
  failed: Array<{ deviceId: string; message: string }>;
}

/**
 * `POST /devices/commands`, at most BULK_LIMIT ids a call: the hub answers per device with the
 * command or why it was not sent (unknown, decommissioned). A chunk the hub refuses as a whole
 * (403, 5xx) counts each of its devices as failed with that error, and the next chunk still goes.
 */
export async function sendBulkCommand(
  api: ApiClient,
  deviceIds: string[],
  command: CreateCommandRequest,
): Promise<BulkOutcome> {
  const outcome: BulkOutcome = { sent: 0, failed: [] };
  for (let i = 0; i < deviceIds.length; i += BULK_LIMIT) {
    const chunk = deviceIds.slice(i, i + BULK_LIMIT);
    try {
      const results = await api.post('/api/v1/devices/commands', z.array(BulkCommandResult), {
        deviceIds: chunk,
        command,
      } satisfies BulkCommandRequest);
      for (const r of results) {
        if (r.command) outcome.sent++;
        else outcome.failed.push({ deviceId: r.deviceId, message: r.error ?? 'not sent' });
      }
    } catch (e) {
      const message = e instanceof Error ? e.message : String(e);
      for (const deviceId of chunk) outcome.failed.push({ deviceId, message });
    }
  }
  return outcome;
}

export function useBulkCommand() {
  const api = useApi();
  return useMutation({
    mutationFn: ({ deviceIds, command }: { deviceIds: string[]; command: CreateCommandRequest }) =>
      sendBulkCommand(api, deviceIds, command),
  });
}

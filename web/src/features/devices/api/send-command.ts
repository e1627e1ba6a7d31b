import { DeviceCommand, type CreateCommandRequest } from '@fleet/protocol/browser';
import { queryOptions, useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { z } from 'zod';
import type { ApiClient } from '../../../lib/api-client.js';
import { useApi } from '../../../lib/api-context.js';
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

/** One command per device (the hub has no bulk command), 8 in flight at a time. */
export async function sendBulkCommand(
  api: ApiClient,
  deviceIds: string[],
  command: CreateCommandRequest,
  concurrency = 8,
): Promise<BulkOutcome> {
  const outcome: BulkOutcome = { sent: 0, failed: [] };
  let next = 0;
  async function worker() {
    while (next < deviceIds.length) {
      const id = deviceIds[next++]!;
      try {
        await sendCommand(api, id, command);
        outcome.sent++;
      } catch (e) {
        outcome.failed.push({ deviceId: id, message: e instanceof Error ? e.message : String(e) });
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, deviceIds.length) }, worker));
  return outcome;
}

export function useBulkCommand() {
  const api = useApi();
  return useMutation({
    mutationFn: ({ deviceIds, command }: { deviceIds: string[]; command: CreateCommandRequest }) =>
      sendBulkCommand(api, deviceIds, command),
  });
}

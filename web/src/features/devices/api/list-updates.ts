import { Page, UpdateEvent } from '@fleet/protocol/browser';
import { queryOptions, useQuery } from '@tanstack/react-query';
import type { ApiClient } from '../../../lib/api-client.js';
import { useApi } from '../../../lib/api-context.js';
import { deviceKeys } from './keys.js';

export function listUpdates(
  api: ApiClient,
  deviceId: string,
  signal?: AbortSignal,
): Promise<Page<UpdateEvent>> {
  return api.get(
    `/api/v1/devices/${encodeURIComponent(deviceId)}/updates?limit=100`,
    Page(UpdateEvent),
    signal,
  );
}

export function updatesQueryOptions(api: ApiClient, deviceId: string) {
  return queryOptions({
    queryKey: deviceKeys.updates(deviceId),
    queryFn: ({ signal }) => listUpdates(api, deviceId, signal),
    staleTime: 60_000,
  });
}

export function useUpdates(deviceId: string) {
  const api = useApi();
  return useQuery(updatesQueryOptions(api, deviceId));
}

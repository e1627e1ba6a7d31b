import { DeviceDetail } from '@fleet/protocol/browser';
import { queryOptions, useQuery } from '@tanstack/react-query';
import type { ApiClient } from '../../../lib/api-client.js';
import { useApi } from '../../../lib/api-context.js';
import { deviceKeys } from './keys.js';

export function getDevice(api: ApiClient, id: string, signal?: AbortSignal): Promise<DeviceDetail> {
  return api.get(`/api/v1/devices/${encodeURIComponent(id)}`, DeviceDetail, signal);
}

export function deviceQueryOptions(api: ApiClient, id: string) {
  return queryOptions({
    queryKey: deviceKeys.detail(id),
    queryFn: ({ signal }) => getDevice(api, id, signal),
    staleTime: 60_000,
  });
}

export function useDevice(id: string) {
  const api = useApi();
  return useQuery(deviceQueryOptions(api, id));
}

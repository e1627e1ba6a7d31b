import { DeviceSummary } from '@fleet/protocol/browser';
import { queryOptions, useQuery } from '@tanstack/react-query';
import { buildQuery, type ApiClient } from '../../../lib/api-client.js';
import { useApi } from '../../../lib/api-context.js';
import { deviceKeys } from './keys.js';

export function getDeviceSummary(
  api: ApiClient,
  fleetId: string | undefined,
  signal?: AbortSignal,
): Promise<DeviceSummary> {
  return api.get(`/api/v1/devices/summary${buildQuery({ fleetId })}`, DeviceSummary, signal);
}

export function deviceSummaryQueryOptions(api: ApiClient, fleetId: string | undefined) {
  return queryOptions({
    queryKey: deviceKeys.summary(fleetId),
    queryFn: ({ signal }) => getDeviceSummary(api, fleetId, signal),
    staleTime: 60_000,
  });
}

export function useDeviceSummary(fleetId?: string) {
  const api = useApi();
  return useQuery(deviceSummaryQueryOptions(api, fleetId));
}

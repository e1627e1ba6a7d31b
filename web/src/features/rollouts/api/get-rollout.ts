import { Page, RolloutDetail, RolloutDevice } from '@fleet/protocol/browser';
import { queryOptions, useQuery } from '@tanstack/react-query';
import { buildQuery, type ApiClient } from '../../../lib/api-client.js';
import { useApi } from '../../../lib/api-context.js';
import { rolloutKeys } from './keys.js';

/** `GET /api/v1/rollouts/:idOrName` → RolloutDetail with counts per device state and per phase. */
export function getRollout(api: ApiClient, id: string, signal?: AbortSignal): Promise<RolloutDetail> {
  return api.get(`/api/v1/rollouts/${encodeURIComponent(id)}`, RolloutDetail, signal);
}

export function rolloutQueryOptions(api: ApiClient, id: string) {
  return queryOptions({
    queryKey: rolloutKeys.detail(id),
    queryFn: ({ signal }) => getRollout(api, id, signal),
    staleTime: 30_000,
  });
}

export function useRollout(id: string) {
  const api = useApi();
  return useQuery(rolloutQueryOptions(api, id));
}

/** `GET /api/v1/rollouts/:id/devices?state=&limit=` → `Page<RolloutDevice>` (the hub caps a page at 1000). */
export function listRolloutDevices(
  api: ApiClient,
  id: string,
  state: string | undefined,
  signal?: AbortSignal,
): Promise<Page<RolloutDevice>> {
  return api.get(
    `/api/v1/rollouts/${encodeURIComponent(id)}/devices${buildQuery({ state, limit: 1000 })}`,
    Page(RolloutDevice),
    signal,
  );
}

export function rolloutDevicesQueryOptions(api: ApiClient, id: string, state: string | undefined) {
  return queryOptions({
    queryKey: rolloutKeys.devices(id, state),
    queryFn: ({ signal }) => listRolloutDevices(api, id, state, signal),
    staleTime: 30_000,
  });
}

export function useRolloutDevices(id: string, state: string | undefined) {
  const api = useApi();
  return useQuery(rolloutDevicesQueryOptions(api, id, state));
}

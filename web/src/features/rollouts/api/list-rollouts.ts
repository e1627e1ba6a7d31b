import { Page, RolloutDetail } from '@fleet/protocol/browser';
import { queryOptions, useQuery } from '@tanstack/react-query';
import { buildQuery, type ApiClient } from '../../../lib/api-client.js';
import { useApi } from '../../../lib/api-context.js';
import { rolloutKeys } from './keys.js';

/** `GET /api/v1/rollouts?state=&limit=` → `Page<RolloutDetail>`. */
export function listRollouts(
  api: ApiClient,
  state: string | undefined,
  signal?: AbortSignal,
): Promise<Page<RolloutDetail>> {
  return api.get(`/api/v1/rollouts${buildQuery({ state, limit: 100 })}`, Page(RolloutDetail), signal);
}

export function rolloutsQueryOptions(api: ApiClient, state: string | undefined) {
  return queryOptions({
    queryKey: rolloutKeys.list(state),
    queryFn: ({ signal }) => listRollouts(api, state, signal),
    staleTime: 30_000,
  });
}

export function useRollouts(state?: string) {
  const api = useApi();
  return useQuery(rolloutsQueryOptions(api, state));
}

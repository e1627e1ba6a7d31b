import { queryOptions, useQuery } from '@tanstack/react-query';
import { buildQuery, type ApiClient } from '../../../lib/api-client.js';
import { useApi } from '../../../lib/api-context.js';
import { Page } from '../../../lib/schemas.js';
import { rolloutKeys } from './keys.js';
import { Rollout } from './types.js';

/** `GET /api/v1/rollouts?state=&limit=` → `Page<Rollout>`. */
export function listRollouts(
  api: ApiClient,
  state: string | undefined,
  signal?: AbortSignal,
): Promise<Page<Rollout>> {
  return api.get(`/api/v1/rollouts${buildQuery({ state, limit: 100 })}`, Page(Rollout), signal);
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

import { Fleet } from '@fleet/protocol/browser';
import { queryOptions, useQuery } from '@tanstack/react-query';
import { z } from 'zod';
import type { ApiClient } from '../../../lib/api-client.js';
import { useApi } from '../../../lib/api-context.js';
import { fleetKeys } from './keys.js';

export function listFleets(api: ApiClient, signal?: AbortSignal): Promise<Fleet[]> {
  return api.get('/api/v1/fleets', z.array(Fleet), signal);
}

export function fleetsQueryOptions(api: ApiClient) {
  return queryOptions({
    queryKey: fleetKeys.list(),
    queryFn: ({ signal }) => listFleets(api, signal),
    staleTime: 5 * 60_000,
  });
}

export function useFleets() {
  const api = useApi();
  return useQuery(fleetsQueryOptions(api));
}

import { queryOptions, useQuery } from '@tanstack/react-query';
import { z } from 'zod';
import type { ApiClient } from '../../../lib/api-client.js';
import { useApi } from '../../../lib/api-context.js';
import { IsoDate } from '../../../lib/schemas.js';
import { fleetKeys } from './keys.js';

export const Fleet = z.object({
  id: z.string(),
  name: z.string(),
  description: z.string(),
  createdAt: IsoDate,
  deviceCount: z.number(),
});
export type Fleet = z.infer<typeof Fleet>;

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

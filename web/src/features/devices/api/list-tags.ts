import { TagCount } from '@fleet/protocol/browser';
import { queryOptions, useQuery } from '@tanstack/react-query';
import { z } from 'zod';
import { buildQuery, type ApiClient } from '../../../lib/api-client.js';
import { useApi } from '../../../lib/api-context.js';
import { deviceKeys } from './keys.js';

export function listTags(
  api: ApiClient,
  fleetId: string | undefined,
  signal?: AbortSignal,
): Promise<TagCount[]> {
  return api.get(`/api/v1/tags${buildQuery({ fleetId })}`, z.array(TagCount), signal);
}

export function tagsQueryOptions(api: ApiClient, fleetId: string | undefined) {
  return queryOptions({
    queryKey: deviceKeys.tags(fleetId),
    queryFn: ({ signal }) => listTags(api, fleetId, signal),
    staleTime: 60_000,
  });
}

export function useTags(fleetId?: string) {
  const api = useApi();
  return useQuery(tagsQueryOptions(api, fleetId));
}

import { Release } from '@fleet/protocol/browser';
import { queryOptions, useQuery } from '@tanstack/react-query';
import type { ApiClient } from '../../../lib/api-client.js';
import { useApi } from '../../../lib/api-context.js';
import { releaseKeys } from './keys.js';

export function getRelease(api: ApiClient, idOrVersion: string, signal?: AbortSignal): Promise<Release> {
  return api.get(`/api/v1/releases/${encodeURIComponent(idOrVersion)}`, Release, signal);
}

export function releaseQueryOptions(api: ApiClient, idOrVersion: string) {
  return queryOptions({
    queryKey: releaseKeys.detail(idOrVersion),
    queryFn: ({ signal }) => getRelease(api, idOrVersion, signal),
    staleTime: 5 * 60_000,
  });
}

export function useRelease(idOrVersion: string) {
  const api = useApi();
  return useQuery(releaseQueryOptions(api, idOrVersion));
}

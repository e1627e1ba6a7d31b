import { Page, ReleaseSummary } from '@fleet/protocol/browser';
import { infiniteQueryOptions, useInfiniteQuery } from '@tanstack/react-query';
import { buildQuery, type ApiClient } from '../../../lib/api-client.js';
import { useApi } from '../../../lib/api-context.js';
import { releaseKeys } from './keys.js';

export function listReleases(
  api: ApiClient,
  includeYanked: boolean,
  cursor: string | undefined,
  signal?: AbortSignal,
): Promise<Page<ReleaseSummary>> {
  return api.get(
    `/api/v1/releases${buildQuery({ includeYanked, limit: 50, cursor })}`,
    Page(ReleaseSummary),
    signal,
  );
}

export function releasesQueryOptions(api: ApiClient, includeYanked: boolean) {
  return infiniteQueryOptions({
    queryKey: releaseKeys.list(includeYanked),
    queryFn: ({ pageParam, signal }) => listReleases(api, includeYanked, pageParam, signal),
    initialPageParam: undefined as string | undefined,
    getNextPageParam: (last) => last.nextCursor ?? undefined,
    staleTime: 60_000,
  });
}

export function useReleases(includeYanked: boolean) {
  const api = useApi();
  return useInfiniteQuery(releasesQueryOptions(api, includeYanked));
}

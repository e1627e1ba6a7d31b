import { UserPrincipal } from '@fleet/protocol/browser';
import { queryOptions, useQuery } from '@tanstack/react-query';
import { ApiError, type ApiClient } from '../../../lib/api-client.js';
import { useApi } from '../../../lib/api-context.js';

/** The signed-in user, or null when there is no (valid) session cookie. */
export async function getMe(api: ApiClient, signal?: AbortSignal): Promise<UserPrincipal | null> {
  try {
    return await api.request('GET', '/api/v1/auth/me', UserPrincipal, {
      signal,
      skipUnauthorizedRedirect: true,
    });
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) return null;
    throw e;
  }
}

export const meKey = ['auth', 'me'] as const;

export function meQueryOptions(api: ApiClient) {
  return queryOptions({
    queryKey: meKey,
    queryFn: ({ signal }) => getMe(api, signal),
    staleTime: 5 * 60_000,
    retry: false,
  });
}

export function useMe() {
  const api = useApi();
  return useQuery(meQueryOptions(api));
}

import { ApiTokenInfo, NewApiToken, type CreateApiTokenRequest } from '@fleet/protocol/browser';
import { queryOptions, useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { z } from 'zod';
import { buildQuery, type ApiClient } from '../../../lib/api-client.js';
import { useApi } from '../../../lib/api-context.js';
import { NoContent } from '../../../lib/schemas.js';
import { adminKeys } from './keys.js';

/** Own tokens; `all` (admins) lists everyone's. */
export function listApiTokens(api: ApiClient, all: boolean, signal?: AbortSignal): Promise<ApiTokenInfo[]> {
  return api.get(
    `/api/v1/tokens${buildQuery({ all: all ? 'true' : undefined })}`,
    z.array(ApiTokenInfo),
    signal,
  );
}

export function apiTokensQueryOptions(api: ApiClient, all: boolean) {
  return queryOptions({
    queryKey: adminKeys.tokens(all),
    queryFn: ({ signal }) => listApiTokens(api, all, signal),
  });
}

export function useApiTokens(all: boolean) {
  const api = useApi();
  return useQuery(apiTokensQueryOptions(api, all));
}

export function createApiToken(api: ApiClient, input: CreateApiTokenRequest): Promise<NewApiToken> {
  const body = Object.fromEntries(Object.entries(input).filter(([, v]) => v !== undefined));
  return api.post('/api/v1/tokens', NewApiToken, body);
}

export function useCreateApiToken() {
  const api = useApi();
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (input: CreateApiTokenRequest) => createApiToken(api, input),
    onSuccess: () => void qc.invalidateQueries({ queryKey: ['admin', 'tokens'] }),
  });
}

export function revokeApiToken(api: ApiClient, id: string): Promise<unknown> {
  return api.delete(`/api/v1/tokens/${encodeURIComponent(id)}`, NoContent);
}

export function useRevokeApiToken() {
  const api = useApi();
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (id: string) => revokeApiToken(api, id),
    onSuccess: () => void qc.invalidateQueries({ queryKey: ['admin', 'tokens'] }),
  });
}

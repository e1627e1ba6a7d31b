import { queryOptions, useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { z } from 'zod';
import { buildQuery, type ApiClient } from '../../../lib/api-client.js';
import { useApi } from '../../../lib/api-context.js';
import { IsoDate, NoContent, Role } from '../../../lib/schemas.js';
import { adminKeys } from './keys.js';

export const SCOPES = [
  'devices',
  'fleets',
  'releases',
  'objects',
  'keys',
  'telemetry',
  'logs',
  'audit',
  'events',
  'users',
] as const;

export const ApiToken = z.object({
  id: z.string(),
  userId: z.string(),
  name: z.string(),
  role: Role,
  scopes: z.array(z.string()),
  createdAt: IsoDate,
  expiresAt: IsoDate.nullable(),
  revokedAt: IsoDate.nullable(),
  lastUsedAt: IsoDate.nullable(),
});
export type ApiToken = z.infer<typeof ApiToken>;

export const CreatedApiToken = ApiToken.extend({ token: z.string() });
export type CreatedApiToken = z.infer<typeof CreatedApiToken>;

export interface CreateApiTokenInput {
  name: string;
  role?: z.infer<typeof Role> | undefined;
  scopes: string[];
  expiresInDays?: number | undefined;
}

/** Own tokens; `all` (admins) lists everyone's. */
export function listApiTokens(api: ApiClient, all: boolean, signal?: AbortSignal): Promise<ApiToken[]> {
  return api.get(`/api/v1/tokens${buildQuery({ all: all ? 'true' : undefined })}`, z.array(ApiToken), signal);
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

export function createApiToken(api: ApiClient, input: CreateApiTokenInput): Promise<CreatedApiToken> {
  const body = Object.fromEntries(Object.entries(input).filter(([, v]) => v !== undefined));
  return api.post('/api/v1/tokens', CreatedApiToken, body);
}

export function useCreateApiToken() {
  const api = useApi();
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (input: CreateApiTokenInput) => createApiToken(api, input),
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

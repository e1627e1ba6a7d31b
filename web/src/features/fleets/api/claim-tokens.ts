import { queryOptions, useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { z } from 'zod';
import type { ApiClient } from '../../../lib/api-client.js';
import { useApi } from '../../../lib/api-context.js';
import { IsoDate } from '../../../lib/schemas.js';
import { fleetKeys } from './keys.js';

export const ClaimToken = z.object({
  id: z.string(),
  fleetId: z.string(),
  name: z.string(),
  tags: z.array(z.string()),
  maxUses: z.number().nullable(),
  uses: z.number(),
  expiresAt: IsoDate.nullable(),
  revokedAt: IsoDate.nullable(),
  createdAt: IsoDate,
  createdBy: z.string(),
});
export type ClaimToken = z.infer<typeof ClaimToken>;

/** The secret is in the creation answer only. */
export const CreatedClaimToken = ClaimToken.extend({ token: z.string() });
export type CreatedClaimToken = z.infer<typeof CreatedClaimToken>;

export interface CreateClaimTokenInput {
  name: string;
  tags: string[];
  maxUses?: number | undefined;
  expiresInHours?: number | undefined;
}

export function listClaimTokens(
  api: ApiClient,
  fleetId: string,
  signal?: AbortSignal,
): Promise<ClaimToken[]> {
  return api.get(`/api/v1/fleets/${encodeURIComponent(fleetId)}/claim-tokens`, z.array(ClaimToken), signal);
}

export function claimTokensQueryOptions(api: ApiClient, fleetId: string) {
  return queryOptions({
    queryKey: fleetKeys.claimTokens(fleetId),
    queryFn: ({ signal }) => listClaimTokens(api, fleetId, signal),
  });
}

export function useClaimTokens(fleetId: string, enabled = true) {
  const api = useApi();
  return useQuery({ ...claimTokensQueryOptions(api, fleetId), enabled });
}

export function createClaimToken(
  api: ApiClient,
  fleetId: string,
  input: CreateClaimTokenInput,
): Promise<CreatedClaimToken> {
  const body = Object.fromEntries(Object.entries(input).filter(([, v]) => v !== undefined));
  return api.post(`/api/v1/fleets/${encodeURIComponent(fleetId)}/claim-tokens`, CreatedClaimToken, body);
}

export function useCreateClaimToken(fleetId: string) {
  const api = useApi();
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (input: CreateClaimTokenInput) => createClaimToken(api, fleetId, input),
    onSuccess: () => void qc.invalidateQueries({ queryKey: fleetKeys.claimTokens(fleetId) }),
  });
}

export function revokeClaimToken(api: ApiClient, id: string): Promise<ClaimToken> {
  return api.delete(`/api/v1/claim-tokens/${encodeURIComponent(id)}`, ClaimToken);
}

export function useRevokeClaimToken(fleetId: string) {
  const api = useApi();
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (id: string) => revokeClaimToken(api, id),
    onSuccess: () => void qc.invalidateQueries({ queryKey: fleetKeys.claimTokens(fleetId) }),
  });
}

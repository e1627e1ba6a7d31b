import { ClaimToken, NewClaimToken, type CreateClaimTokenRequest } from '@fleet/protocol/browser';
import { queryOptions, useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { z } from 'zod';
import type { ApiClient } from '../../../lib/api-client.js';
import { useApi } from '../../../lib/api-context.js';
import { fleetKeys } from './keys.js';

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
  input: CreateClaimTokenRequest,
): Promise<NewClaimToken> {
  const body = Object.fromEntries(Object.entries(input).filter(([, v]) => v !== undefined));
  return api.post(`/api/v1/fleets/${encodeURIComponent(fleetId)}/claim-tokens`, NewClaimToken, body);
}

export function useCreateClaimToken(fleetId: string) {
  const api = useApi();
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (input: CreateClaimTokenRequest) => createClaimToken(api, fleetId, input),
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

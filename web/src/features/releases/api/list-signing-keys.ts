import { SigningKeyRecord } from '@fleet/protocol/browser';
import { queryOptions, useQuery } from '@tanstack/react-query';
import { z } from 'zod';
import type { ApiClient } from '../../../lib/api-client.js';
import { useApi } from '../../../lib/api-context.js';
import { releaseKeys } from './keys.js';

export function listSigningKeys(api: ApiClient, signal?: AbortSignal): Promise<SigningKeyRecord[]> {
  return api.get('/api/v1/keys?includeRevoked=true', z.array(SigningKeyRecord), signal);
}

export function signingKeysQueryOptions(api: ApiClient) {
  return queryOptions({
    queryKey: releaseKeys.signingKeys(),
    queryFn: ({ signal }) => listSigningKeys(api, signal),
    staleTime: 5 * 60_000,
  });
}

export function useSigningKeys() {
  const api = useApi();
  return useQuery(signingKeysQueryOptions(api));
}

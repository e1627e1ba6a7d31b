import { Release } from '@fleet/protocol/browser';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import type { ApiClient } from '../../../lib/api-client.js';
import { useApi } from '../../../lib/api-context.js';
import { releaseKeys } from './keys.js';

export function yankRelease(api: ApiClient, idOrVersion: string, reason: string): Promise<Release> {
  return api.post(`/api/v1/releases/${encodeURIComponent(idOrVersion)}/yank`, Release, { reason });
}

export function useYankRelease(idOrVersion: string) {
  const api = useApi();
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (reason: string) => yankRelease(api, idOrVersion, reason),
    onSuccess: () => void qc.invalidateQueries({ queryKey: releaseKeys.all }),
  });
}

import { RolloutDetail, type RolloutSpecRequest } from '@fleet/protocol/browser';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import type { ApiClient } from '../../../lib/api-client.js';
import { useApi } from '../../../lib/api-context.js';
import { rolloutKeys } from './keys.js';

/** `POST /api/v1/rollouts` → the created RolloutDetail (state `running`); 409 while the fleet has one running or paused. */
export function createRollout(api: ApiClient, input: RolloutSpecRequest): Promise<RolloutDetail> {
  return api.post('/api/v1/rollouts', RolloutDetail, input);
}

export function useCreateRollout() {
  const api = useApi();
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (input: RolloutSpecRequest) => createRollout(api, input),
    onSuccess: (r) => {
      qc.setQueryData(rolloutKeys.detail(r.id), r);
      void qc.invalidateQueries({ queryKey: ['rollouts', 'list'] });
    },
  });
}

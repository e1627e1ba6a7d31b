import { useMutation, useQueryClient } from '@tanstack/react-query';
import type { ApiClient } from '../../../lib/api-client.js';
import { useApi } from '../../../lib/api-context.js';
import { rolloutKeys } from './keys.js';
import { Rollout, type CreateRolloutInput } from './types.js';

/** `POST /api/v1/rollouts` → the created Rollout (state `running`); 409 while the fleet has one running or paused. */
export function createRollout(api: ApiClient, input: CreateRolloutInput): Promise<Rollout> {
  return api.post('/api/v1/rollouts', Rollout, input);
}

export function useCreateRollout() {
  const api = useApi();
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (input: CreateRolloutInput) => createRollout(api, input),
    onSuccess: (r) => {
      qc.setQueryData(rolloutKeys.detail(r.id), r);
      void qc.invalidateQueries({ queryKey: ['rollouts', 'list'] });
    },
  });
}

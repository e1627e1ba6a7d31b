import { type RolloutAction, RolloutDetail, type RolloutState } from '@fleet/protocol/browser';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import type { ApiClient } from '../../../lib/api-client.js';
import { useApi } from '../../../lib/api-context.js';
import { rolloutKeys } from './keys.js';

/** `POST /api/v1/rollouts/:id/{pause|resume|abort|rollback} {reason?}` → the updated RolloutDetail (audited). */
export function rolloutAction(
  api: ApiClient,
  id: string,
  action: RolloutAction,
  reason?: string,
): Promise<RolloutDetail> {
  return api.post(
    `/api/v1/rollouts/${encodeURIComponent(id)}/${action}`,
    RolloutDetail,
    reason ? { reason } : {},
  );
}

/** Which operator actions make sense in a state (the hub refuses the others anyway). */
export function actionsFor(state: RolloutState): RolloutAction[] {
  switch (state) {
    case 'running':
      return ['pause', 'abort', 'rollback'];
    case 'paused':
      return ['resume', 'abort', 'rollback'];
    case 'completed':
    case 'aborted':
      return ['rollback'];
    case 'rolled-back':
      return [];
  }
}

export function useRolloutAction(id: string) {
  const api = useApi();
  const qc = useQueryClient();
  return useMutation({
    mutationFn: ({ action, reason }: { action: RolloutAction; reason?: string }) =>
      rolloutAction(api, id, action, reason),
    onSuccess: (r) => {
      qc.setQueryData(rolloutKeys.detail(id), r);
      void qc.invalidateQueries({ queryKey: ['rollouts', 'list'] });
      void qc.invalidateQueries({ queryKey: ['rollouts', 'devices', id] });
    },
  });
}

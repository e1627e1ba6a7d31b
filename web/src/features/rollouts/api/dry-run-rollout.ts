import { DryRunReport, type RolloutSpecRequest } from '@fleet/protocol/browser';
import { useMutation } from '@tanstack/react-query';
import type { ApiClient } from '../../../lib/api-client.js';
import { useApi } from '../../../lib/api-context.js';

/** `POST /api/v1/rollouts/dry-run` with the creation body → DryRunReport (nothing is started). */
export function dryRunRollout(api: ApiClient, input: RolloutSpecRequest): Promise<DryRunReport> {
  return api.post('/api/v1/rollouts/dry-run', DryRunReport, input);
}

export function useDryRunRollout() {
  const api = useApi();
  return useMutation({ mutationFn: (input: RolloutSpecRequest) => dryRunRollout(api, input) });
}

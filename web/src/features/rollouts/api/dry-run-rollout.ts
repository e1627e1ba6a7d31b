import { useMutation } from '@tanstack/react-query';
import type { ApiClient } from '../../../lib/api-client.js';
import { useApi } from '../../../lib/api-context.js';
import { DryRun, type CreateRolloutInput } from './types.js';

/** `POST /api/v1/rollouts/dry-run` with the creation body → DryRun (nothing is started). */
export function dryRunRollout(api: ApiClient, input: CreateRolloutInput): Promise<DryRun> {
  return api.post('/api/v1/rollouts/dry-run', DryRun, input);
}

export function useDryRunRollout() {
  const api = useApi();
  return useMutation({ mutationFn: (input: CreateRolloutInput) => dryRunRollout(api, input) });
}

import { Fleet, type CreateFleetRequest } from '@fleet/protocol/browser';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { z } from 'zod';
import type { ApiClient } from '../../../lib/api-client.js';
import { useApi } from '../../../lib/api-context.js';
import { fleetKeys } from './keys.js';

export const CreateFleetInput = z.object({
  name: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'lower-case letters, digits and dashes (max 63)'),
  description: z.string().max(2000),
}) satisfies z.ZodType<CreateFleetRequest>;
export type CreateFleetInput = z.infer<typeof CreateFleetInput>;

export function createFleet(api: ApiClient, input: CreateFleetInput): Promise<Fleet> {
  return api.post('/api/v1/fleets', Fleet, input);
}

export function useCreateFleet() {
  const api = useApi();
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (input: CreateFleetInput) => createFleet(api, input),
    onSuccess: () => void qc.invalidateQueries({ queryKey: fleetKeys.all }),
  });
}

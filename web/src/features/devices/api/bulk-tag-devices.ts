import { BulkTagResult, type BulkTagRequest } from '@fleet/protocol/browser';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import type { ApiClient } from '../../../lib/api-client.js';
import { useApi } from '../../../lib/api-context.js';
import { deviceKeys } from './keys.js';

export type BulkTagInput = Required<BulkTagRequest>;

/** The hub takes at most this many ids per bulk call (tags, commands); larger selections go in chunks. */
export const BULK_LIMIT = 1000;

export async function bulkTagDevices(api: ApiClient, input: BulkTagInput): Promise<BulkTagResult> {
  let updated = 0;
  for (let i = 0; i < input.deviceIds.length; i += BULK_LIMIT) {
    const r = await api.post('/api/v1/devices/tags', BulkTagResult, {
      ...input,
      deviceIds: input.deviceIds.slice(i, i + BULK_LIMIT),
    });
    updated += r.updated;
  }
  return { updated };
}

export function useBulkTagDevices() {
  const api = useApi();
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (input: BulkTagInput) => bulkTagDevices(api, input),
    onSuccess: () => {
      void qc.invalidateQueries({ queryKey: deviceKeys.lists() });
      void qc.invalidateQueries({ queryKey: ['devices', 'tags'] });
      void qc.invalidateQueries({ queryKey: ['devices', 'detail'] });
    },
  });
}

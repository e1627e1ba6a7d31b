import { Device } from '@fleet/protocol/browser';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import type { ApiClient } from '../../../lib/api-client.js';
import { useApi } from '../../../lib/api-context.js';
import { deviceKeys } from './keys.js';

/** `PUT /api/v1/devices/:id/tags {tags}`: replaces the device's tags. */
export function setDeviceTags(api: ApiClient, deviceId: string, tags: string[]): Promise<Device> {
  return api.put(`/api/v1/devices/${encodeURIComponent(deviceId)}/tags`, Device, { tags });
}

export function useSetDeviceTags(deviceId: string) {
  const api = useApi();
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (tags: string[]) => setDeviceTags(api, deviceId, tags),
    onSuccess: (d) => {
      qc.setQueryData(deviceKeys.detail(deviceId), (old: Record<string, unknown> | undefined) =>
        old ? { ...old, tags: d.tags } : old,
      );
      void qc.invalidateQueries({ queryKey: deviceKeys.lists() });
      void qc.invalidateQueries({ queryKey: ['devices', 'tags'] });
    },
  });
}

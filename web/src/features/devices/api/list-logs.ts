import { Page, StoredLogLine } from '@fleet/protocol/browser';
import { queryOptions, useQuery } from '@tanstack/react-query';
import { buildQuery, type ApiClient } from '../../../lib/api-client.js';
import { useApi } from '../../../lib/api-context.js';
import { deviceKeys } from './keys.js';

/** Newest first, as the hub stores them. */
export function listLogs(
  api: ApiClient,
  deviceId: string,
  source: string | undefined,
  q: string | undefined,
  signal?: AbortSignal,
): Promise<Page<StoredLogLine>> {
  return api.get(
    `/api/v1/devices/${encodeURIComponent(deviceId)}/logs${buildQuery({ source, q, limit: 300 })}`,
    Page(StoredLogLine),
    signal,
  );
}

export function logsQueryOptions(
  api: ApiClient,
  deviceId: string,
  source: string | undefined,
  q: string | undefined,
) {
  return queryOptions({
    queryKey: deviceKeys.logs(deviceId, source, q),
    queryFn: ({ signal }) => listLogs(api, deviceId, source, q, signal),
    staleTime: Infinity,
  });
}

export function useLogs(deviceId: string, source: string | undefined, q: string | undefined) {
  const api = useApi();
  return useQuery(logsQueryOptions(api, deviceId, source, q));
}

/** The per-device live log stream: its own EventSource, open only while following. */
export function logStreamUrl(api: ApiClient, deviceId: string): string {
  return api.url(`/api/v1/events${buildQuery({ deviceId, type: 'device.logs' })}`);
}

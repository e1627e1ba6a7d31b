import { queryOptions, useQuery } from '@tanstack/react-query';
import { z } from 'zod';
import { buildQuery, type ApiClient } from '../../../lib/api-client.js';
import { useApi } from '../../../lib/api-context.js';
import { IsoDate, Page } from '../../../lib/schemas.js';
import { deviceKeys } from './keys.js';

export const StoredLogLine = z.object({
  id: z.string(),
  deviceId: z.string(),
  source: z.string(),
  stream: z.string(),
  at: IsoDate,
  text: z.string(),
});
export type StoredLogLine = z.infer<typeof StoredLogLine>;

/** A live line from the event stream (protocol's LogLine). */
export const LiveLogLine = z.object({
  time: z.string(),
  source: z.string(),
  stream: z.string(),
  text: z.string(),
});
export type LiveLogLine = z.infer<typeof LiveLogLine>;

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

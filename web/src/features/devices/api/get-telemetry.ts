import { TelemetryPoint } from '@fleet/protocol/browser';
import { queryOptions, useQuery } from '@tanstack/react-query';
import { z } from 'zod';
import { buildQuery, type ApiClient } from '../../../lib/api-client.js';
import { useApi } from '../../../lib/api-context.js';
import { deviceKeys } from './keys.js';

export const TELEMETRY_RANGES = [
  { seconds: 3600, label: '1 hour' },
  { seconds: 6 * 3600, label: '6 hours' },
  { seconds: 24 * 3600, label: '24 hours' },
  { seconds: 7 * 86_400, label: '7 days' },
] as const;

/** Bucketed averages over the last `rangeSeconds`; the hub picks ~300 buckets. */
export function getTelemetry(
  api: ApiClient,
  deviceId: string,
  rangeSeconds: number,
  now: Date,
  signal?: AbortSignal,
): Promise<TelemetryPoint[]> {
  const from = new Date(now.getTime() - rangeSeconds * 1000).toISOString();
  return api.get(
    `/api/v1/devices/${encodeURIComponent(deviceId)}/telemetry${buildQuery({ from, to: now.toISOString() })}`,
    z.array(TelemetryPoint),
    signal,
  );
}

export function telemetryQueryOptions(api: ApiClient, deviceId: string, rangeSeconds: number) {
  return queryOptions({
    queryKey: deviceKeys.telemetry(deviceId, rangeSeconds),
    queryFn: ({ signal }) => getTelemetry(api, deviceId, rangeSeconds, new Date(), signal),
    staleTime: 30_000,
  });
}

export function useTelemetry(deviceId: string, rangeSeconds: number) {
  const api = useApi();
  return useQuery(telemetryQueryOptions(api, deviceId, rangeSeconds));
}

import { z } from 'zod';
import type { TelemetrySample } from '@fleet/protocol';

/** One device's samples from one Telemetry message. */
export interface TelemetryBatchItem {
  deviceId: string;
  samples: TelemetrySample[];
}

export const TELEMETRY_METRICS = [
  'cpuPercent',
  'memUsedBytes',
  'memTotalBytes',
  'diskUsedBytes',
  'diskTotalBytes',
  'temperatureC',
  'uptimeSeconds',
] as const;
export type TelemetryMetric = (typeof TELEMETRY_METRICS)[number];

/** A time bucket of a device's samples: averages of each metric (uptime: the maximum). */
export const TelemetryPoint = z.object({
  at: z.date(),
  samples: z.number().int(),
  cpuPercent: z.number().nullable(),
  memUsedBytes: z.number().nullable(),
  memTotalBytes: z.number().nullable(),
  diskUsedBytes: z.number().nullable(),
  diskTotalBytes: z.number().nullable(),
  temperatureC: z.number().nullable(),
  uptimeSeconds: z.number().nullable(),
});
export type TelemetryPoint = z.infer<typeof TelemetryPoint>;

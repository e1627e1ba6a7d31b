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

/** A time bucket of a device's samples: averages of each metric. */
export interface TelemetryPoint {
  at: Date;
  samples: number;
  cpuPercent: number | null;
  memUsedBytes: number | null;
  memTotalBytes: number | null;
  diskUsedBytes: number | null;
  diskTotalBytes: number | null;
  temperatureC: number | null;
  uptimeSeconds: number | null;
}

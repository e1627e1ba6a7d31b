import { TelemetryPoint as ApiTelemetryPoint, type TelemetrySample } from '@fleet/protocol';
import { z } from 'zod';

/** One device's samples from one Telemetry message. */
export interface TelemetryBatchItem {
  deviceId: string;
  samples: TelemetrySample[];
}

/** One sample with its device: the form ingest queues and batches (one object per row). */
export interface TelemetryRow extends TelemetrySample {
  deviceId: string;
}

/**
 * A time bucket of a device's samples (averages; uptime: the maximum): protocol's answer
 * (decision 0091) with `at` a Date.
 */
export const TelemetryPoint = ApiTelemetryPoint.extend({ at: z.date() });
export type TelemetryPoint = z.infer<typeof TelemetryPoint>;

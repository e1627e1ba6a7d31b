import { StoredLogLine as ApiStoredLogLine, type LogLine as WireLogLine } from '@fleet/protocol';
import { z } from 'zod';

/** One log line from a device's Logs message, with the (authenticated) device id. */
export interface LogRow extends WireLogLine {
  deviceId: string;
}

/** `GET /devices/:id/logs` items: protocol's answer (decision 0091) with `at` a Date. */
export const StoredLogLine = ApiStoredLogLine.extend({ at: z.date() });
export type StoredLogLine = z.infer<typeof StoredLogLine>;

export interface LogQuery {
  deviceId: string;
  source?: string | undefined;
  from?: Date | undefined;
  to?: Date | undefined;
  /** Case-insensitive substring. */
  contains?: string | undefined;
  /** Keyset position: lines strictly older than (at, id). */
  before?: { at: Date; id: bigint } | undefined;
  limit: number;
}

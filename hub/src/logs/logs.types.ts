import { z } from 'zod';
import type { LogLine as WireLogLine } from '@fleet/protocol';

/** One log line from a device's Logs message, with the (authenticated) device id. */
export interface LogRow extends WireLogLine {
  deviceId: string;
}

export const StoredLogLine = z.object({
  id: z.string(),
  deviceId: z.string(),
  source: z.string(),
  stream: z.string(),
  at: z.date(),
  text: z.string(),
});
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

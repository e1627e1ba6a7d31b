import { z } from 'zod';

export const AuditEntry = z.object({
  id: z.string(),
  at: z.date(),
  actor: z.string(),
  actorEmail: z.string().nullable(),
  action: z.string(),
  targetType: z.string(),
  targetId: z.string().nullable(),
  details: z.record(z.string(), z.unknown()),
});
export type AuditEntry = z.infer<typeof AuditEntry>;

export interface AuditQuery {
  actor?: string;
  action?: string;
  targetType?: string;
  targetId?: string;
  /** Entries with id below this (newest first paging). */
  beforeId?: bigint;
  limit: number;
}

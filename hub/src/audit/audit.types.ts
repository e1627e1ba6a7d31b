export interface AuditEntry {
  id: string;
  at: Date;
  actor: string;
  actorEmail: string | null;
  action: string;
  targetType: string;
  targetId: string | null;
  details: Record<string, unknown>;
}

export interface AuditQuery {
  actor?: string;
  action?: string;
  targetType?: string;
  targetId?: string;
  /** Entries with id below this (newest first paging). */
  beforeId?: bigint;
  limit: number;
}

import { Injectable, Inject } from '@nestjs/common';
import type { Actor } from '../auth/principal.js';
import { encodeCursor, type Page } from '../common/validation.js';
import { EventBus } from '../events/event-bus.js';
import { AuditRepository } from './audit.repository.js';
import type { AuditEntry } from './audit.types.js';

export interface AuditTarget {
  type: string;
  id?: string | null;
}

/**
 * The audit trail: every mutating action (who, what, target, when, details). Services call
 * `record` after the change succeeded; a failed change is not audited as done.
 */
@Injectable()
export class AuditService {
  constructor(
    @Inject(AuditRepository) private readonly repo: AuditRepository,
    @Inject(EventBus) private readonly events: EventBus,
  ) {}

  async record(
    actor: Actor,
    action: string,
    target: AuditTarget,
    details: Record<string, unknown> = {},
  ): Promise<void> {
    await this.repo.insert({
      actor: actor.id,
      actorEmail: actor.email,
      action,
      targetType: target.type,
      targetId: target.id ?? null,
      details,
    });
    this.events.publish({
      type: 'audit.entry',
      scope: 'audit',
      minRole: 'admin',
      data: {
        actor: actor.id,
        actorEmail: actor.email,
        action,
        targetType: target.type,
        targetId: target.id ?? null,
      },
    });
  }

  async list(q: {
    actor?: string;
    action?: string;
    targetType?: string;
    targetId?: string;
    beforeId?: bigint;
    limit: number;
  }): Promise<Page<AuditEntry>> {
    const rows = await this.repo.list({ ...q, limit: q.limit + 1 });
    const items = rows.slice(0, q.limit);
    const last = items.at(-1);
    return { items, nextCursor: rows.length > q.limit && last ? encodeCursor({ id: last.id }) : null };
  }
}

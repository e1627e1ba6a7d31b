import { Injectable, Inject } from '@nestjs/common';
import { PrismaService } from '../database/prisma.service.js';
import type { Prisma } from '../generated/prisma/client.js';
import type { AuditEntry, AuditQuery } from './audit.types.js';

@Injectable()
export class AuditRepository {
  constructor(@Inject(PrismaService) private readonly db: PrismaService) {}

  async insert(e: Omit<AuditEntry, 'id' | 'at'> & { at?: Date }): Promise<void> {
    await this.db.auditEntry.create({
      data: {
        actor: e.actor,
        actorEmail: e.actorEmail,
        action: e.action,
        targetType: e.targetType,
        targetId: e.targetId,
        details: e.details as Prisma.InputJsonValue,
        ...(e.at ? { at: e.at } : {}),
      },
    });
  }

  async list(q: AuditQuery): Promise<AuditEntry[]> {
    const rows = await this.db.auditEntry.findMany({
      where: {
        ...(q.actor ? { actor: q.actor } : {}),
        ...(q.action ? { action: q.action } : {}),
        ...(q.targetType ? { targetType: q.targetType } : {}),
        ...(q.targetId ? { targetId: q.targetId } : {}),
        ...(q.beforeId !== undefined ? { id: { lt: q.beforeId } } : {}),
      },
      orderBy: { id: 'desc' },
      take: q.limit,
    });
    return rows.map((r) => ({
      id: r.id.toString(),
      at: r.at,
      actor: r.actor,
      actorEmail: r.actorEmail,
      action: r.action,
      targetType: r.targetType,
      targetId: r.targetId,
      details: (r.details ?? {}) as Record<string, unknown>,
    }));
  }
}

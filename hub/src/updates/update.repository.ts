import { Injectable, Inject } from '@nestjs/common';
import type { Progress } from '@fleet/protocol';
import { PrismaService } from '../database/prisma.service.js';
import type { UpdateEvent } from './update.types.js';

@Injectable()
export class UpdateRepository {
  constructor(@Inject(PrismaService) private readonly db: PrismaService) {}

  /** Stores the event and the device's latest update status; false for an unknown device. */
  async record(deviceId: string, p: Progress, at: Date): Promise<{ known: boolean; fleetId: string | null }> {
    return this.db.$transaction(async (tx) => {
      const rows = await tx.$queryRaw<
        Array<{ fleet_id: string }>
      >`UPDATE devices SET update_state = ${p.state}, update_status = ${p.status},
        update_reason = ${p.reason ?? null}, last_seen_at = GREATEST(last_seen_at, ${at}), online = true
        WHERE id = ${deviceId}::uuid AND decommissioned_at IS NULL RETURNING fleet_id::text`;
      if (!rows[0]) return { known: false, fleetId: null };
      await tx.updateEvent.create({
        data: {
          deviceId,
          updateId: p.updateId,
          status: p.status,
          state: p.state,
          releaseVersion: p.revision.version,
          revisionDigest: p.revision.digest,
          percent: p.percent,
          reason: p.reason ?? null,
          message: p.message ?? null,
          failedBootLog: p.failedBootLog ?? null,
          at,
        },
      });
      return { known: true, fleetId: rows[0].fleet_id };
    });
  }

  async list(deviceId: string, limit: number, beforeId: bigint | null): Promise<UpdateEvent[]> {
    const rows = await this.db.updateEvent.findMany({
      where: { deviceId, ...(beforeId !== null ? { id: { lt: beforeId } } : {}) },
      orderBy: { id: 'desc' },
      take: limit,
    });
    return rows.map((r) => ({
      id: r.id.toString(),
      updateId: r.updateId,
      status: r.status,
      state: r.state,
      releaseVersion: r.releaseVersion,
      revisionDigest: r.revisionDigest,
      percent: r.percent,
      reason: r.reason,
      message: r.message,
      failedBootLog: r.failedBootLog,
      at: r.at,
    }));
  }
}

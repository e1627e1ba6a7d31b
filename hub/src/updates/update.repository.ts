import { Injectable, Inject } from '@nestjs/common';
import type { Progress } from '@fleet/protocol';
import { PrismaService } from '../database/prisma.service.js';
import type { UpdateEvent } from './update.types.js';

@Injectable()
export class UpdateRepository {
  constructor(@Inject(PrismaService) private readonly db: PrismaService) {}

  /**
   * Stores the event and the device's latest update status; false for an unknown device. One
   * interactive transaction per message: the API's and tests' form, and the reference the
   * batch form (`recordMany`, ingest's) is tested against.
   */
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

  /**
   * `record` for many messages in one transaction of two statements, whatever the batch size
   * (decision 0092): the devices rows locked in id order (two replicas' overlapping batches
   * deadlock otherwise, decision 0035), then one statement that updates each known device from
   * its last item (the items in order, as one by one: status, state and reason of the last,
   * last seen the latest of all) and inserts every item's event in item order, so a device's
   * event ids follow its messages. A device may appear several times. One result per item, in
   * order; ids must be UUIDs.
   */
  async recordMany(
    items: readonly ProgressWrite[],
  ): Promise<Array<{ known: boolean; fleetId: string | null }>> {
    if (items.length === 0) return [];
    const rows = items.map(({ deviceId, progress: p, at }, i) => ({
      i,
      id: deviceId,
      update_id: p.updateId,
      status: p.status,
      state: p.state,
      release_version: p.revision.version,
      revision_digest: p.revision.digest,
      percent: p.percent,
      reason: p.reason ?? null,
      message: p.message ?? null,
      failed_boot_log: p.failedBootLog ?? null,
      at: at.toISOString(),
    }));
    const ids = [...new Set(items.map((i) => i.deviceId))];
    const [, result] = await this.db.$transaction([
      this.db.$executeRaw`SELECT 1 FROM devices WHERE id = ANY(${ids}::uuid[]) ORDER BY id FOR UPDATE`,
      this.db.$queryRaw<Array<{ i: number; known: boolean; fleet_id: string | null }>>`
        WITH x AS (
          SELECT * FROM jsonb_to_recordset(${JSON.stringify(rows)}::jsonb) AS x(i int, id uuid, update_id text,
            status text, state text, release_version text, revision_digest text, percent float8, reason text,
            message text, failed_boot_log text, at timestamptz)),
        latest AS (
          SELECT DISTINCT ON (id) id, status, state, reason, max(at) OVER (PARTITION BY id) AS seen_at
          FROM x ORDER BY id, i DESC),
        known AS (
          UPDATE devices d SET update_state = l.state, update_status = l.status, update_reason = l.reason,
            last_seen_at = GREATEST(d.last_seen_at, l.seen_at), online = true
          FROM latest l WHERE d.id = l.id AND d.decommissioned_at IS NULL
          RETURNING d.id, d.fleet_id),
        events AS (
          INSERT INTO update_events (device_id, update_id, status, state, release_version, revision_digest,
            percent, reason, message, failed_boot_log, at)
          SELECT x.id, x.update_id, x.status, x.state, x.release_version, x.revision_digest, x.percent,
            x.reason, x.message, x.failed_boot_log, x.at
          FROM x JOIN known k ON k.id = x.id ORDER BY x.i
          RETURNING 1)
        SELECT x.i, k.id IS NOT NULL AS known, k.fleet_id::text AS fleet_id FROM x LEFT JOIN known k ON k.id = x.id ORDER BY x.i`,
    ]);
    return result.map((r) => ({ known: r.known, fleetId: r.fleet_id }));
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

/** One progress message to store: the device, the message, its time (see UpdatesService). */
export interface ProgressWrite {
  deviceId: string;
  progress: Progress;
  at: Date;
}

// The state writes as they were before decision 0035 (hub/src/devices/device.repository.ts at
// commit a6f4e4e): one statement per presence, one interactive transaction per report with a
// Prisma upsert per container. Kept here only as ingest-state.bench.ts's in-run reference.
import type { ContainerStatus, Presence, Report } from '@fleet/protocol';
import type { PrismaService } from '../src/database/prisma.service.js';

export async function formerRecordPresence(
  db: PrismaService,
  id: string,
  p: Presence,
  seenAt: Date,
  orderAt: Date | null,
): Promise<{ fleetId: string | null; applied: boolean }> {
  const rows = await db.$queryRaw<Array<{ fleet_id: string | null; applied: string | null }>>`
    WITH applied AS (
      UPDATE devices SET online = ${p.state === 'online'}, last_seen_at = GREATEST(last_seen_at, ${seenAt}),
        presence_at = GREATEST(presence_at, ${orderAt}::timestamptz),
        report_sent_at = CASE WHEN ${p.bootId ?? null}::text IS NOT NULL AND boot_id IS DISTINCT FROM ${p.bootId ?? null}::text
          THEN NULL ELSE report_sent_at END,
        agent_version = COALESCE(${p.agentVersion ?? null}, agent_version), boot_id = COALESCE(${p.bootId ?? null}, boot_id)
      WHERE id = ${id}::uuid AND decommissioned_at IS NULL
        AND (${orderAt}::timestamptz IS NULL OR presence_at IS NULL OR presence_at <= ${orderAt}::timestamptz)
      RETURNING fleet_id::text)
    SELECT (SELECT fleet_id::text FROM devices WHERE id = ${id}::uuid AND decommissioned_at IS NULL) AS fleet_id,
      (SELECT fleet_id FROM applied) AS applied`;
  const r = rows[0];
  return { fleetId: r?.fleet_id ?? null, applied: !!r?.applied };
}

export async function formerRecordReport(
  db: PrismaService,
  id: string,
  r: Report,
  at: Date,
  sentAt: Date,
): Promise<{ fleetId: string | null; applied: boolean; changed: number }> {
  return db.$transaction(async (tx) => {
    const updated = await tx.$queryRaw<
      Array<{ fleet_id: string }>
    >`UPDATE devices SET online = (online OR presence_at IS NULL OR presence_at <= ${at}), last_seen_at = GREATEST(last_seen_at, ${at}),
      report_sent_at = ${sentAt},
      current_release = ${r.revision?.version ?? null}, current_revision_digest = ${r.revision?.digest ?? null},
      current_sequence = ${r.revision?.sequence ?? null}, update_state = ${r.updateState}, board = ${r.board},
      agent_version = ${r.agentVersion}, failed_revisions = ${r.failedRevisions}::text[],
      inventory = ${JSON.stringify({ ...r.inventory, bootSlot: r.bootSlot ?? null, configVersion: r.configVersion ?? null })}::jsonb
      WHERE id = ${id}::uuid AND decommissioned_at IS NULL AND (report_sent_at IS NULL OR report_sent_at <= ${sentAt})
      RETURNING fleet_id::text`;
    if (!updated[0]) {
      const seen = await tx.$queryRaw<Array<{ fleet_id: string }>>`
        UPDATE devices SET last_seen_at = GREATEST(last_seen_at, ${at})
        WHERE id = ${id}::uuid AND decommissioned_at IS NULL RETURNING fleet_id::text`;
      return { fleetId: seen[0]?.fleet_id ?? null, applied: false, changed: 0 };
    }
    const existing = await tx.deviceContainer.findMany({ where: { deviceId: id } });
    const before = new Map(existing.map((c) => [c.name, c]));
    const changed: Array<{
      name: string;
      fromState: string | null;
      toState: string;
      restartCount: number;
      message: string | null;
    }> = [];
    for (const c of r.containers) {
      const prev = before.get(c.name);
      before.delete(c.name);
      if (!prev || prev.state !== c.state || prev.restartCount !== c.restarts)
        changed.push({
          name: c.name,
          fromState: prev?.state ?? null,
          toState: c.state,
          restartCount: c.restarts,
          message: c.message ?? null,
        });
      const data = containerData(c, at);
      await tx.deviceContainer.upsert({
        where: { deviceId_name: { deviceId: id, name: c.name } },
        create: { deviceId: id, name: c.name, ...data },
        update: data,
      });
    }
    for (const gone of before.values()) {
      changed.push({
        name: gone.name,
        fromState: gone.state,
        toState: 'removed',
        restartCount: gone.restartCount,
        message: null,
      });
      await tx.deviceContainer.delete({ where: { deviceId_name: { deviceId: id, name: gone.name } } });
    }
    if (changed.length > 0)
      await tx.deviceContainerEvent.createMany({ data: changed.map((c) => ({ deviceId: id, at, ...c })) });
    return { fleetId: updated[0].fleet_id, applied: true, changed: changed.length };
  });
}

function containerData(c: ContainerStatus, at: Date) {
  return {
    state: c.state,
    restartCount: c.restarts,
    exitCode: c.exitCode ?? null,
    startedAt: c.startedAt ? new Date(c.startedAt) : null,
    message: c.message ?? null,
    updatedAt: at,
  };
}

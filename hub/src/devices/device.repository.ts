import { Injectable, Inject } from '@nestjs/common';
import { UpdateState, type CommandAck, type Presence, type Report } from '@fleet/protocol';
import { PrismaService } from '../database/prisma.service.js';
import { Prisma } from '../generated/prisma/client.js';
import type {
  CommandStatus,
  ContainerEvent,
  Device,
  DeviceCommand,
  DeviceContainer,
  DeviceCursor,
  DeviceDetail,
  DeviceListFilter,
  DeviceSort,
  DeviceSummary,
} from './device.types.js';

interface DeviceRow {
  id: string;
  fleet_id: string;
  name: string;
  hardware_id: string;
  board: string;
  agent_version: string;
  tags: string[];
  online: boolean;
  last_seen_at: Date;
  current_release: string | null;
  current_revision_digest: string | null;
  current_sequence: number | null;
  update_state: string;
  update_status: string | null;
  update_reason: string | null;
  failed_revisions: string[];
  created_at: Date;
  decommissioned_at: Date | null;
}

const DEVICE_COLUMNS = Prisma.sql`id::text AS id, fleet_id::text AS fleet_id, name, hardware_id, board, agent_version, tags, online,
  last_seen_at, current_release, current_revision_digest, current_sequence, update_state, update_status, update_reason,
  failed_revisions, created_at, decommissioned_at`;

function fromRow(r: DeviceRow): Device {
  return {
    id: r.id,
    fleetId: r.fleet_id,
    name: r.name,
    hardwareId: r.hardware_id,
    board: r.board,
    agentVersion: r.agent_version,
    tags: r.tags,
    online: r.online,
    lastSeenAt: r.last_seen_at,
    currentRelease: r.current_release,
    currentRevisionDigest: r.current_revision_digest,
    currentSequence: r.current_sequence,
    updateState: r.update_state,
    updateStatus: r.update_status,
    updateReason: r.update_reason,
    failedRevisions: r.failed_revisions,
    createdAt: r.created_at,
    decommissionedAt: r.decommissioned_at,
  };
}

/** Column and SQL type of each sort key (the cursor carries the key as text). */
const SORT_COLUMNS: Record<
  'name' | 'lastSeenAt' | 'createdAt',
  { column: Prisma.Sql; cast: Prisma.Sql; text: (d: Device) => string }
> = {
  name: { column: Prisma.raw('name'), cast: Prisma.raw('text'), text: (d) => d.name },
  lastSeenAt: {
    column: Prisma.raw('last_seen_at'),
    cast: Prisma.raw('timestamptz'),
    text: (d) => d.lastSeenAt.toISOString(),
  },
  createdAt: {
    column: Prisma.raw('created_at'),
    cast: Prisma.raw('timestamptz'),
    text: (d) => d.createdAt.toISOString(),
  },
};

/**
 * Update states in which a device counts as `updating`, listed (not `<> 'idle'`) so that the
 * btree on update_state serves the filter.
 */
const UPDATING_STATES = UpdateState.options.filter((s) => s !== 'idle');
const FAILED_STATUSES = ['failed', 'rolled-back'];

type CommandRow = {
  id: string;
  deviceId: string;
  kind: string;
  params: unknown;
  status: CommandStatus;
  createdAt: Date;
  createdBy: string;
  sentAt: Date | null;
  ackAt: Date | null;
  message: string | null;
};

function toCommand(r: CommandRow): DeviceCommand {
  return { ...r, params: (r.params ?? {}) as Record<string, unknown> };
}

@Injectable()
export class DeviceRepository {
  constructor(@Inject(PrismaService) private readonly db: PrismaService) {}

  /** WHERE clause of the list and the summary. Every branch is served by an index (see schema). */
  private where(f: DeviceListFilter): Prisma.Sql[] {
    const conds: Prisma.Sql[] = [];
    if (!f.includeDecommissioned) conds.push(Prisma.sql`decommissioned_at IS NULL`);
    if (f.fleetId) conds.push(Prisma.sql`fleet_id = ${f.fleetId}::uuid`);
    if (f.tags.length > 0) conds.push(Prisma.sql`tags @> ${f.tags}::text[]`);
    if (f.release) conds.push(Prisma.sql`current_release = ${f.release}`);
    if (f.status === 'online') conds.push(Prisma.sql`online = true`);
    if (f.status === 'offline') conds.push(Prisma.sql`online = false`);
    if (f.status === 'updating') conds.push(Prisma.sql`update_state = ANY(${UPDATING_STATES}::text[])`);
    if (f.status === 'failed') conds.push(Prisma.sql`update_status = ANY(${FAILED_STATUSES}::text[])`);
    if (f.q) {
      const like = `%${f.q.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;
      conds.push(
        Prisma.sql`(name ILIKE ${like} OR hardware_id ILIKE ${like} OR id::text = ${f.q.toLowerCase()})`,
      );
    }
    return conds;
  }

  async list(
    f: DeviceListFilter,
    sort: DeviceSort,
    limit: number,
    after: DeviceCursor | null,
  ): Promise<{ items: Device[]; next: DeviceCursor | null }> {
    const desc = sort.startsWith('-');
    const key = SORT_COLUMNS[(desc ? sort.slice(1) : sort) as keyof typeof SORT_COLUMNS];
    const conds = this.where(f);
    // Keyset pagination on (sort key, id): a row comparison the btree indexes serve directly,
    // so page 1000 costs what page 1 costs.
    if (after) {
      conds.push(
        desc
          ? Prisma.sql`(${key.column}, id) < (${after.key}::${key.cast}, ${after.id}::uuid)`
          : Prisma.sql`(${key.column}, id) > (${after.key}::${key.cast}, ${after.id}::uuid)`,
      );
    }
    const where = conds.length ? Prisma.sql`WHERE ${Prisma.join(conds, ' AND ')}` : Prisma.empty;
    const dir = desc ? Prisma.raw('DESC') : Prisma.raw('ASC');
    const rows = await this.db.$queryRaw<DeviceRow[]>`SELECT ${DEVICE_COLUMNS} FROM devices ${where}
      ORDER BY ${key.column} ${dir}, id ${dir} LIMIT ${limit + 1}`;
    const items = rows.slice(0, limit).map(fromRow);
    const last = items.at(-1);
    return { items, next: rows.length > limit && last ? { key: key.text(last), id: last.id } : null };
  }

  /** The same query as `list` for EXPLAIN in tests and diagnostics. */
  async explainList(
    f: DeviceListFilter,
    sort: DeviceSort,
    limit: number,
    after: DeviceCursor | null,
  ): Promise<string> {
    const desc = sort.startsWith('-');
    const key = SORT_COLUMNS[(desc ? sort.slice(1) : sort) as keyof typeof SORT_COLUMNS];
    const conds = this.where(f);
    if (after) {
      conds.push(
        desc
          ? Prisma.sql`(${key.column}, id) < (${after.key}::${key.cast}, ${after.id}::uuid)`
          : Prisma.sql`(${key.column}, id) > (${after.key}::${key.cast}, ${after.id}::uuid)`,
      );
    }
    const where = conds.length ? Prisma.sql`WHERE ${Prisma.join(conds, ' AND ')}` : Prisma.empty;
    const dir = desc ? Prisma.raw('DESC') : Prisma.raw('ASC');
    const rows = await this.db.$queryRaw<
      Array<{ 'QUERY PLAN': string }>
    >`EXPLAIN SELECT ${DEVICE_COLUMNS} FROM devices ${where}
      ORDER BY ${key.column} ${dir}, id ${dir} LIMIT ${limit + 1}`;
    return rows.map((r) => r['QUERY PLAN']).join('\n');
  }

  async summary(f: DeviceListFilter): Promise<DeviceSummary> {
    const conds = this.where({ ...f, status: undefined });
    const where = conds.length ? Prisma.sql`WHERE ${Prisma.join(conds, ' AND ')}` : Prisma.empty;
    const [counts] = await this.db.$queryRaw<
      Array<{ total: bigint; online: bigint; updating: bigint; failed: bigint }>
    >`
      SELECT count(*) AS total, count(*) FILTER (WHERE online) AS online,
        count(*) FILTER (WHERE update_state = ANY(${UPDATING_STATES}::text[])) AS updating,
        count(*) FILTER (WHERE update_status = ANY(${FAILED_STATUSES}::text[])) AS failed
      FROM devices ${where}`;
    const releases = await this.db.$queryRaw<Array<{ release: string | null; count: bigint }>>`
      SELECT current_release AS release, count(*) AS count FROM devices ${where}
      GROUP BY current_release ORDER BY count(*) DESC LIMIT 50`;
    const total = Number(counts?.total ?? 0);
    const online = Number(counts?.online ?? 0);
    return {
      total,
      online,
      offline: total - online,
      updating: Number(counts?.updating ?? 0),
      failed: Number(counts?.failed ?? 0),
      releases: releases.map((r) => ({ release: r.release, count: Number(r.count) })),
    };
  }

  async find(id: string): Promise<Device | null> {
    const rows = await this.db.$queryRaw<
      DeviceRow[]
    >`SELECT ${DEVICE_COLUMNS} FROM devices WHERE id = ${id}::uuid`;
    return rows[0] ? fromRow(rows[0]) : null;
  }

  async findDetail(id: string): Promise<DeviceDetail | null> {
    const d = await this.find(id);
    if (!d) return null;
    const extra = await this.db.device.findUnique({
      where: { id },
      select: { publicKey: true, bootId: true, credentialsRotatedAt: true, inventory: true },
    });
    const containers = await this.db.deviceContainer.findMany({
      where: { deviceId: id },
      orderBy: { name: 'asc' },
    });
    return {
      ...d,
      publicKey: extra?.publicKey ?? '',
      bootId: extra?.bootId ?? null,
      credentialsRotatedAt: extra?.credentialsRotatedAt ?? d.createdAt,
      inventory: (extra?.inventory ?? {}) as Record<string, unknown>,
      containers: containers.map((c): DeviceContainer => ({
        name: c.name,
        state: c.state,
        restartCount: c.restartCount,
        exitCode: c.exitCode,
        startedAt: c.startedAt,
        message: c.message,
        updatedAt: c.updatedAt,
      })),
    };
  }

  async containerHistory(
    deviceId: string,
    limit: number,
    beforeId: bigint | null,
  ): Promise<ContainerEvent[]> {
    const rows = await this.db.deviceContainerEvent.findMany({
      where: { deviceId, ...(beforeId !== null ? { id: { lt: beforeId } } : {}) },
      orderBy: { id: 'desc' },
      take: limit,
    });
    return rows.map((r) => ({
      id: r.id.toString(),
      name: r.name,
      fromState: r.fromState,
      toState: r.toState,
      restartCount: r.restartCount,
      message: r.message,
      at: r.at,
    }));
  }

  async setTags(
    ids: string[],
    mutate: { set?: string[]; add?: string[]; remove?: string[] },
  ): Promise<number> {
    if (mutate.set) {
      return this.db
        .$executeRaw`UPDATE devices SET tags = ${mutate.set}::text[] WHERE id = ANY(${ids}::uuid[]) AND decommissioned_at IS NULL`;
    }
    const add = mutate.add ?? [];
    const remove = mutate.remove ?? [];
    // Set semantics in one statement: (tags - removed) ∪ added, sorted, no repeats.
    return this.db.$executeRaw`UPDATE devices SET tags = ARRAY(
        SELECT DISTINCT t FROM unnest(array_cat(tags, ${add}::text[])) AS t WHERE NOT (t = ANY(${remove}::text[])) ORDER BY t)
      WHERE id = ANY(${ids}::uuid[]) AND decommissioned_at IS NULL`;
  }

  /** Returns false when the target fleet does not exist. */
  async update(
    id: string,
    patch: { name?: string | undefined; fleetId?: string | undefined },
  ): Promise<boolean> {
    if (
      patch.fleetId &&
      !(await this.db.fleet.findUnique({ where: { id: patch.fleetId }, select: { id: true } }))
    )
      return false;
    await this.db.device.update({
      where: { id },
      data: {
        ...(patch.name !== undefined ? { name: patch.name } : {}),
        ...(patch.fleetId ? { fleetId: patch.fleetId } : {}),
      },
    });
    return true;
  }

  async distinctTags(fleetId: string | undefined): Promise<Array<{ tag: string; count: number }>> {
    const fleet = fleetId ? Prisma.sql`AND fleet_id = ${fleetId}::uuid` : Prisma.empty;
    const rows = await this.db.$queryRaw<Array<{ tag: string; count: bigint }>>`
      SELECT t AS tag, count(*) AS count FROM devices, unnest(tags) AS t WHERE decommissioned_at IS NULL ${fleet}
      GROUP BY t ORDER BY t LIMIT 1000`;
    return rows.map((r) => ({ tag: r.tag, count: Number(r.count) }));
  }

  async setCredentials(id: string, credentialsHash: string, at: Date): Promise<void> {
    await this.db.device.update({ where: { id }, data: { credentialsHash, credentialsRotatedAt: at } });
  }

  async decommission(id: string, at: Date): Promise<void> {
    // The hardware id is freed so the same board can be provisioned again as a new device;
    // the old row keeps its history. Offline here: the broker kicks the client without its Last Will.
    await this.db.$executeRaw`UPDATE devices SET decommissioned_at = ${at}, online = false,
      hardware_id = hardware_id || ':decommissioned:' || id::text, credentials_hash = '' WHERE id = ${id}::uuid AND decommissioned_at IS NULL`;
  }

  /**
   * Applies a presence unless a newer one was applied already. `orderAt` is the hub's receive
   * time of a live presence, compared with `presence_at` (null for a retained presence: the
   * broker's current value at subscribe time, always applied, the mark left as it is). A new
   * boot id clears the report mark: a rebooted device's clock may have started over.
   * Returns the device's fleet (null when unknown or decommissioned) and whether it applied.
   */
  async recordPresence(
    id: string,
    p: Presence,
    seenAt: Date,
    orderAt: Date | null,
  ): Promise<{ fleetId: string | null; applied: boolean }> {
    const [r] = await this.recordPresences([{ id, presence: p, seenAt, orderAt }]);
    return r!;
  }

  /**
   * `recordPresence` for many devices in one statement (UPDATE ... FROM a jsonb recordset): the
   * order condition sits in the WHERE, so it is re-checked on the locked row when another
   * replica wrote it meanwhile. One result per item, in order. A device id may appear only
   * once (UPDATE ... FROM applies one matching row); ids must be UUIDs.
   */
  async recordPresences(
    items: readonly PresenceBatchItem[],
  ): Promise<Array<{ fleetId: string | null; applied: boolean }>> {
    if (items.length === 0) return [];
    checkBatch('recordPresences', items, presenceTexts);
    const rows = items.map((p, i) => ({
      i,
      id: p.id,
      online: p.presence.state === 'online',
      seen_at: p.seenAt.toISOString(),
      order_at: p.orderAt?.toISOString() ?? null,
      boot_id: p.presence.bootId ?? null,
      agent_version: p.presence.agentVersion ?? null,
    }));
    const [, result] = await this.db.$transaction([
      this.lockInOrder(items.map((p) => p.id)),
      this.db.$queryRaw<Array<{ i: number; fleet_id: string | null; applied: boolean }>>`
      WITH x AS (
        SELECT * FROM jsonb_to_recordset(${JSON.stringify(rows)}::jsonb) AS x(i int, id uuid, online boolean,
          seen_at timestamptz, order_at timestamptz, boot_id text, agent_version text)),
      applied AS (
        UPDATE devices d SET online = x.online, last_seen_at = GREATEST(d.last_seen_at, x.seen_at),
          presence_at = GREATEST(d.presence_at, x.order_at),
          report_sent_at = CASE WHEN x.boot_id IS NOT NULL AND d.boot_id IS DISTINCT FROM x.boot_id
            THEN NULL ELSE d.report_sent_at END,
          agent_version = COALESCE(x.agent_version, d.agent_version), boot_id = COALESCE(x.boot_id, d.boot_id)
        FROM x WHERE d.id = x.id AND d.decommissioned_at IS NULL
          AND (x.order_at IS NULL OR d.presence_at IS NULL OR d.presence_at <= x.order_at)
        RETURNING d.id)
      SELECT x.i, d.fleet_id::text AS fleet_id, EXISTS (SELECT 1 FROM applied a WHERE a.id = x.id) AS applied
      FROM x LEFT JOIN devices d ON d.id = x.id AND d.decommissioned_at IS NULL
      ORDER BY x.i`,
    ]);
    return result.map((r) => ({ fleetId: r.fleet_id, applied: r.fleet_id !== null && r.applied }));
  }

  /**
   * Locks the devices rows of a batch in id order before it writes them: an UPDATE ... FROM
   * locks in whatever order its plan meets the rows, so two replicas writing overlapping
   * batches deadlocked (Postgres then cancels one; ingest would retry it).
   */
  private lockInOrder(ids: string[]) {
    return this.db.$executeRaw`SELECT 1 FROM devices WHERE id = ANY(${ids}::uuid[]) ORDER BY id FOR UPDATE`;
  }

  /**
   * Applies a report: the device's revision and update state, its containers, and a history row
   * for every container whose state or restart count changed (or that disappeared). A report
   * sent before the one already applied (`sentAt` older than `report_sent_at`: another replica
   * applied a later one first) changes nothing but last seen. `online` is set only when no
   * presence arrived after this report (an offline Last Will applied first must stand).
   */
  async recordReport(
    id: string,
    r: Report,
    at: Date,
    sentAt: Date,
  ): Promise<{ fleetId: string | null; applied: boolean; changed: ContainerEvent[] }> {
    const [result] = await this.recordReports([{ id, report: r, at, sentAt }]);
    return result!;
  }

  /**
   * `recordReport` for many devices in one transaction of two statements, whatever the batch
   * size: (1) the devices rows, conditional on `report_sent_at` in the WHERE (re-checked on the
   * locked row if another replica wrote it meanwhile), last seen alone for the skipped ones;
   * (2) the containers of the applied devices against what is stored: upsert, delete the
   * missing ones, one history row per change. (2) runs after (1) holds the rows' locks, so it
   * diffs against what another replica committed. One result per item, in order; a device id
   * may appear only once; ids must be UUIDs.
   */
  async recordReports(
    items: readonly ReportBatchItem[],
  ): Promise<Array<{ fleetId: string | null; applied: boolean; changed: ContainerEvent[] }>> {
    if (items.length === 0) return [];
    checkBatch('recordReports', items, reportTexts);
    const rows = items.map(({ id, report: r, at, sentAt }, i) => ({
      i,
      id,
      at: at.toISOString(),
      sent_at: sentAt.toISOString(),
      release: r.revision?.version ?? null,
      digest: r.revision?.digest ?? null,
      seq: r.revision?.sequence ?? null,
      update_state: r.updateState,
      board: r.board,
      agent_version: r.agentVersion,
      failed: r.failedRevisions,
      inventory: { ...r.inventory, bootSlot: r.bootSlot ?? null, configVersion: r.configVersion ?? null },
    }));
    return this.db.$transaction(
      async (tx) => {
        await tx.$executeRaw`SELECT 1 FROM devices WHERE id = ANY(${items.map((r) => r.id)}::uuid[]) ORDER BY id FOR UPDATE`; // see lockInOrder
        const written = await tx.$queryRaw<Array<{ i: number; fleet_id: string | null; applied: boolean }>>`
          WITH x AS (
            SELECT * FROM jsonb_to_recordset(${JSON.stringify(rows)}::jsonb) AS x(i int, id uuid, at timestamptz,
              sent_at timestamptz, release text, digest text, seq int, update_state text, board text,
              agent_version text, failed text[], inventory jsonb)),
          applied AS (
            UPDATE devices d SET online = (d.online OR d.presence_at IS NULL OR d.presence_at <= x.at),
              last_seen_at = GREATEST(d.last_seen_at, x.at), report_sent_at = x.sent_at,
              current_release = x.release, current_revision_digest = x.digest, current_sequence = x.seq,
              update_state = x.update_state, board = x.board, agent_version = x.agent_version,
              failed_revisions = x.failed, inventory = x.inventory
            FROM x WHERE d.id = x.id AND d.decommissioned_at IS NULL
              AND (d.report_sent_at IS NULL OR d.report_sent_at <= x.sent_at)
            RETURNING d.id, d.fleet_id),
          seen AS (
            -- Older than what is stored: the device is alive all the same.
            UPDATE devices d SET last_seen_at = GREATEST(d.last_seen_at, x.at)
            FROM x WHERE d.id = x.id AND d.decommissioned_at IS NULL
              AND NOT EXISTS (SELECT 1 FROM applied a WHERE a.id = x.id)
            RETURNING d.id, d.fleet_id)
          SELECT x.i, COALESCE(a.fleet_id, s.fleet_id)::text AS fleet_id, (a.id IS NOT NULL) AS applied
          FROM x LEFT JOIN applied a ON a.id = x.id LEFT JOIN seen s ON s.id = x.id
          ORDER BY x.i`;
        const applied = written.filter((w) => w.applied).map((w) => w.i);
        const changes = new Map<number, ContainerEvent[]>();
        if (applied.length > 0) {
          const containers = applied.map((i) => {
            const { id, report, at } = items[i]!;
            // A name reported twice: the last one stands (as the former one-by-one upsert left it).
            const byName = new Map(report.containers.map((c, ord) => [c.name, { c, ord }]));
            return {
              i,
              id,
              at: at.toISOString(),
              containers: [...byName.values()].map(({ c, ord }) => ({
                ord,
                name: c.name,
                state: c.state,
                restarts: c.restarts,
                exit_code: c.exitCode ?? null,
                started_at: c.startedAt ?? null,
                message: c.message ?? null,
              })),
            };
          });
          const events = await tx.$queryRaw<
            Array<{
              i: number;
              name: string;
              from_state: string | null;
              to_state: string;
              restart_count: number;
              message: string | null;
            }>
          >`
            WITH x AS (
              SELECT * FROM jsonb_to_recordset(${JSON.stringify(containers)}::jsonb) AS x(i int, id uuid, at timestamptz, containers jsonb)),
            n AS (
              SELECT x.i, x.id AS device_id, x.at, c.* FROM x,
                jsonb_to_recordset(x.containers) AS c(ord int, name text, state text, restarts int, exit_code int,
                  started_at timestamptz, message text)),
            o AS (
              SELECT dc.device_id, dc.name, dc.state, dc.restart_count FROM device_containers dc
              WHERE dc.device_id IN (SELECT id FROM x)),
            changes AS (
              SELECT n.i, n.device_id, n.name, o.state AS from_state, n.state AS to_state,
                n.restarts AS restart_count, n.message, n.at, 0 AS grp, n.ord
              FROM n LEFT JOIN o ON o.device_id = n.device_id AND o.name = n.name
              WHERE o.name IS NULL OR o.state <> n.state OR o.restart_count <> n.restarts
              UNION ALL
              SELECT x.i, o.device_id, o.name, o.state, 'removed', o.restart_count, NULL, x.at, 1, 0
              FROM o JOIN x ON x.id = o.device_id
              WHERE NOT EXISTS (SELECT 1 FROM n WHERE n.device_id = o.device_id AND n.name = o.name)),
            upserted AS (
              INSERT INTO device_containers (device_id, name, state, restart_count, exit_code, started_at, message, updated_at)
              SELECT device_id, name, state, restarts, exit_code, started_at, message, at FROM n
              ON CONFLICT (device_id, name) DO UPDATE SET state = EXCLUDED.state,
                restart_count = EXCLUDED.restart_count, exit_code = EXCLUDED.exit_code,
                started_at = EXCLUDED.started_at, message = EXCLUDED.message, updated_at = EXCLUDED.updated_at
              RETURNING 1),
            deleted AS (
              DELETE FROM device_containers dc USING changes c
              WHERE c.grp = 1 AND dc.device_id = c.device_id AND dc.name = c.name
              RETURNING 1),
            history AS (
              INSERT INTO device_container_events (device_id, name, from_state, to_state, restart_count, message, at)
              SELECT device_id, name, from_state, to_state, restart_count, message, at FROM changes
              ORDER BY i, grp, ord, name
              RETURNING 1)
            SELECT i, name, from_state, to_state, restart_count, message FROM changes ORDER BY i, grp, ord, name`;
          for (const e of events) {
            const { at } = items[e.i]!;
            const list = changes.get(e.i) ?? [];
            list.push({
              id: '',
              at,
              name: e.name,
              fromState: e.from_state,
              toState: e.to_state,
              restartCount: e.restart_count,
              message: e.message,
            });
            changes.set(e.i, list);
          }
        }
        return written.map((w) => ({
          fleetId: w.fleet_id,
          applied: w.applied,
          changed: changes.get(w.i) ?? [],
        }));
      },
      // One transaction for a whole batch: Prisma's 5 s default would cut a large batch on a
      // loaded machine, and the batch would be retried whole.
      { maxWait: 10_000, timeout: 120_000 },
    );
  }

  async createCommand(input: {
    deviceId: string;
    kind: string;
    params: Record<string, unknown>;
    createdBy: string;
  }): Promise<DeviceCommand> {
    const r = await this.db.deviceCommand.create({
      data: { ...input, params: input.params as Prisma.InputJsonValue },
    });
    return toCommand(r);
  }

  async markCommand(
    id: string,
    status: CommandStatus,
    patch: { sentAt?: Date; ackAt?: Date; message?: string | null },
  ): Promise<void> {
    await this.db.deviceCommand.update({ where: { id }, data: { status, ...patch } });
  }

  /**
   * Command acknowledgements of a batch in one transaction (decision 0092): the commands rows
   * locked in id order, then one statement. An ack applies only to a command of the device that
   * sent it (compared as text, as `findCommand` + `cmd.deviceId === deviceId` did); several acks
   * of one command apply in item order (the last one stands). One result per item, in order:
   * the command's id and kind, or null (no such command of that device). Command ids must be
   * UUIDs.
   */
  async recordAcks(
    items: ReadonlyArray<{ deviceId: string; ack: CommandAck; at: Date }>,
  ): Promise<Array<{ commandId: string; kind: string } | null>> {
    if (items.length === 0) return [];
    const rows = items.map(({ deviceId, ack, at }, i) => ({
      i,
      device_id: deviceId,
      command_id: ack.commandId,
      status: ack.status,
      message: ack.message ?? null,
      at: at.toISOString(),
    }));
    const ids = [...new Set(items.map((i) => i.ack.commandId))];
    const [, result] = await this.db.$transaction([
      this.db
        .$executeRaw`SELECT 1 FROM device_commands WHERE id = ANY(${ids}::uuid[]) ORDER BY id FOR UPDATE`,
      this.db.$queryRaw<Array<{ i: number; command_id: string | null; kind: string | null }>>`
        WITH x AS (
          SELECT * FROM jsonb_to_recordset(${JSON.stringify(rows)}::jsonb) AS x(i int, device_id text,
            command_id uuid, status text, message text, at timestamptz)),
        latest AS (SELECT DISTINCT ON (command_id, device_id) * FROM x ORDER BY command_id, device_id, i DESC),
        acked AS (
          UPDATE device_commands c SET status = l.status::"CommandStatus", ack_at = l.at, message = l.message
          FROM latest l WHERE c.id = l.command_id AND c.device_id::text = l.device_id
          RETURNING c.id, c.device_id, c.kind)
        SELECT x.i, a.id::text AS command_id, a.kind FROM x
        LEFT JOIN acked a ON a.id = x.command_id AND a.device_id::text = x.device_id
        ORDER BY x.i`,
    ]);
    return result.map((r) =>
      r.command_id !== null && r.kind !== null ? { commandId: r.command_id, kind: r.kind } : null,
    );
  }

  async findCommand(id: string): Promise<DeviceCommand | null> {
    const r = await this.db.deviceCommand.findUnique({ where: { id } });
    return r ? toCommand(r) : null;
  }

  async listCommands(deviceId: string, limit: number): Promise<DeviceCommand[]> {
    return (
      await this.db.deviceCommand.findMany({
        where: { deviceId },
        orderBy: { createdAt: 'desc' },
        take: limit,
      })
    ).map(toCommand);
  }
}

export interface PresenceBatchItem {
  id: string;
  presence: Presence;
  seenAt: Date;
  /** Hub receive time of a live presence; null for a retained one (always applied). */
  orderAt: Date | null;
}

export interface ReportBatchItem {
  id: string;
  report: Report;
  /** Hub receive time: last seen, container history. */
  at: Date;
  /** Orders the device's reports (envelope time capped at arrival). */
  sentAt: Date;
}

/** A presence's text that goes into text columns (checked for NUL characters). */
export const presenceTexts = ({ presence: p }: PresenceBatchItem): Array<string | undefined> => [
  p.bootId,
  p.agentVersion,
];

/** A report's text that goes into text or jsonb columns (checked for NUL characters). */
export const reportTexts = ({ report: r }: ReportBatchItem): Array<string | null | undefined> => [
  r.board,
  r.agentVersion,
  r.revision?.version,
  r.revision?.digest,
  ...r.failedRevisions,
  ...r.inventory.objects,
  ...r.containers.flatMap((c) => [c.name, c.state, c.message, c.startedAt]),
];

const UUID_TEXT = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Refuses, with the item and the reason, a batch the statements cannot take: a device id that
 * is not a UUID or appears twice, or text with a NUL character (Postgres text and jsonb cannot
 * hold U+0000; protocol's schemas allow it). The caller (DevicesService) checks items first and
 * sets such ones aside, so one bad message never fails its batch.
 */
export function checkBatch<T extends { id: string }>(
  what: string,
  items: readonly T[],
  texts: (item: T) => Array<string | null | undefined>,
): void {
  const seen = new Set<string>();
  items.forEach((item, i) => {
    const problem = batchItemProblem(item, texts);
    if (problem !== undefined) throw new RangeError(`${what}: item ${i} (device ${item.id}): ${problem}`);
    const key = item.id.toLowerCase();
    if (seen.has(key))
      throw new RangeError(
        `${what}: device ${item.id} appears twice in one batch; write its messages in separate batches`,
      );
    seen.add(key);
  });
}

/** Why an item cannot be written (undefined: it can). */
export function batchItemProblem<T extends { id: string }>(
  item: T,
  texts: (item: T) => Array<string | null | undefined>,
): string | undefined {
  if (!UUID_TEXT.test(item.id)) return 'the device id is not a UUID';
  if (texts(item).some((t) => t?.includes('\u0000'))) return 'a text field contains a NUL character (U+0000)';
  return undefined;
}

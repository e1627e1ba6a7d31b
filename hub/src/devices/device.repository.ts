import { Injectable, Inject } from '@nestjs/common';
import { UpdateState, type ContainerStatus, type Presence, type Report } from '@fleet/protocol';
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
    const rows = await this.db.$queryRaw<Array<{ fleet_id: string | null; applied: string | null }>>`
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
    return this.db.$transaction(async (tx) => {
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
        // Older than what is stored, or not a device: the device is alive either way.
        const seen = await tx.$queryRaw<Array<{ fleet_id: string }>>`
          UPDATE devices SET last_seen_at = GREATEST(last_seen_at, ${at})
          WHERE id = ${id}::uuid AND decommissioned_at IS NULL RETURNING fleet_id::text`;
        return { fleetId: seen[0]?.fleet_id ?? null, applied: false, changed: [] };
      }
      const fleetId = updated[0].fleet_id;
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
        if (!prev || prev.state !== c.state || prev.restartCount !== c.restarts) {
          changed.push({
            name: c.name,
            fromState: prev?.state ?? null,
            toState: c.state,
            restartCount: c.restarts,
            message: c.message ?? null,
          });
        }
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
      return { fleetId, applied: true, changed: changed.map((c) => ({ id: '', at, ...c })) };
    });
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

import { Inject, Injectable } from '@nestjs/common';
import { PrismaService } from '../database/prisma.service.js';
import type { Prisma } from '../generated/prisma/client.js';
import { DEVICE_STATES, Phase, type RolloutDeviceState, type RolloutState } from './rollout.model.js';
import type { DeviceFacts, DeviceStateCounts, Rollout, RolloutDevice } from './rollout.types.js';
import { z } from 'zod';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
type Db = Prisma.TransactionClient | PrismaService;

interface RolloutRow {
  id: string;
  name: string | null;
  releaseId: string;
  fleetId: string;
  tags: string[];
  deviceIds: string[];
  phases: unknown;
  maxFailurePercent: number;
  minSuccessPercent: number;
  deviceTimeoutSeconds: number;
  maxParallel: number;
  deviceBakeSeconds: number;
  force: boolean;
  state: string;
  stateReason: string | null;
  currentPhase: number;
  bakeStartedAt: Date | null;
  acknowledgedFailures: number;
  createdAt: Date;
  createdBy: string;
  updatedAt: Date;
  finishedAt: Date | null;
}

function toRollout(r: RolloutRow): Rollout {
  return { ...r, phases: z.array(Phase).parse(r.phases), state: r.state as RolloutState };
}

export function emptyCounts(): DeviceStateCounts {
  return Object.fromEntries(DEVICE_STATES.map((s) => [s, 0])) as DeviceStateCounts;
}

export interface NewRollout {
  name: string | null;
  releaseId: string;
  fleetId: string;
  tags: string[];
  deviceIds: string[];
  phases: Phase[];
  maxFailurePercent: number;
  minSuccessPercent: number;
  deviceTimeoutSeconds: number;
  maxParallel: number;
  deviceBakeSeconds: number;
  force: boolean;
  createdBy: string;
}

/** Facts about one rollout device the engine syncs against. */
export interface SyncRow {
  deviceId: string;
  state: RolloutDeviceState;
  phase: number;
  lastEventId: bigint;
  eventId: bigint | null;
  eventStatus: string | null;
  eventReason: string | null;
  eventMessage: string | null;
  eventAt: Date | null;
  currentDigest: string | null;
  failedRevisions: string[];
  updateState: string;
  online: boolean;
  containerStates: string[];
  rollbackUpdateId: string | null;
  previousReleaseId: string | null;
  previousDigest: string | null;
}

/** A pending rollout device and the facts the engine checks before sending it the target. */
export interface PendingDevice {
  deviceId: string;
  updateId: string;
  board: string;
  agentVersion: string;
  failedRevisions: string[];
}

export interface DeviceChange {
  deviceId: string;
  state: RolloutDeviceState;
  reason?: string | null;
  lastEventId?: bigint;
  lastProgressAt?: Date;
  finished?: boolean;
}

const DEVICE_FACTS_SELECT = `d.id::text AS id, d.name, d.board, d.agent_version AS "agentVersion", d.online,
  d.current_revision_digest AS "currentRevisionDigest", d.current_release AS "currentRelease",
  d.failed_revisions AS "failedRevisions", d.inventory`;

interface FactsRow extends Omit<DeviceFacts, 'inventory'> {
  inventory: unknown;
}

function toFacts(r: FactsRow): DeviceFacts {
  const inv = (r.inventory ?? {}) as { objects?: unknown; freeBytes?: unknown; totalBytes?: unknown };
  return {
    ...r,
    inventory: {
      objects: Array.isArray(inv.objects)
        ? inv.objects.filter((o): o is string => typeof o === 'string')
        : [],
      freeBytes: typeof inv.freeBytes === 'number' ? inv.freeBytes : null,
      totalBytes: typeof inv.totalBytes === 'number' ? inv.totalBytes : null,
    },
  };
}

/**
 * Every query of the rollout engine. Coordination between hub replicas happens here and only
 * here: `withLockedRollout` holds the rollout's row lock (`FOR UPDATE SKIP LOCKED`) for one
 * engine step, so a second replica skips a rollout the first is working on, and operator actions
 * (`FOR UPDATE`, waiting) never interleave with a step.
 */
@Injectable()
export class RolloutRepository {
  constructor(@Inject(PrismaService) private readonly db: PrismaService) {}

  // ---- rollouts ----

  async create(r: NewRollout, devices: Array<{ id: string; phase: number }>): Promise<Rollout> {
    return this.db.$transaction(
      async (tx) => {
        const row = await tx.rollout.create({
          data: { ...r, phases: r.phases as unknown as Prisma.InputJsonValue, state: 'running' },
        });
        if (devices.length > 0) {
          await tx.$executeRaw`INSERT INTO rollout_devices (rollout_id, device_id, phase, state, update_id, previous_release_id)
            SELECT ${row.id}::uuid, x.id, x.phase, 'pending', 'u-' || gen_random_uuid()::text,
              (SELECT r.id FROM releases r WHERE r.manifest_digest = d.current_revision_digest LIMIT 1)
            FROM unnest(${devices.map((d) => d.id)}::uuid[], ${devices.map((d) => d.phase)}::int[]) AS x(id, phase)
            JOIN devices d ON d.id = x.id`;
        }
        return toRollout(row);
      },
      { timeout: 60_000 },
    );
  }

  async find(idOrName: string, db: Db = this.db): Promise<Rollout | null> {
    const row = await db.rollout.findFirst({
      where: UUID.test(idOrName) ? { id: idOrName } : { name: idOrName },
    });
    return row ? toRollout(row) : null;
  }

  async list(q: {
    fleetId?: string | undefined;
    state?: string | undefined;
    limit: number;
    before?: Date | undefined;
  }): Promise<Rollout[]> {
    const rows = await this.db.rollout.findMany({
      where: {
        ...(q.fleetId ? { fleetId: q.fleetId } : {}),
        ...(q.state ? { state: q.state } : {}),
        ...(q.before ? { createdAt: { lt: q.before } } : {}),
      },
      orderBy: { createdAt: 'desc' },
      take: q.limit,
    });
    return rows.map(toRollout);
  }

  /** A running or paused rollout of the fleet (there is at most one). */
  async activeInFleet(fleetId: string): Promise<Rollout | null> {
    const row = await this.db.rollout.findFirst({ where: { fleetId, state: { in: ['running', 'paused'] } } });
    return row ? toRollout(row) : null;
  }

  async updateSettings(
    id: string,
    s: Pick<Rollout, 'maxFailurePercent' | 'minSuccessPercent' | 'maxParallel' | 'deviceTimeoutSeconds'>,
  ): Promise<Rollout> {
    return toRollout(await this.db.rollout.update({ where: { id }, data: { ...s, updatedAt: new Date() } }));
  }

  async counts(rolloutId: string): Promise<Array<{ phase: number; state: RolloutDeviceState; n: number }>> {
    const rows = await this.db.$queryRaw<Array<{ phase: number; state: string; n: bigint }>>`
      SELECT phase, state, count(*) AS n FROM rollout_devices WHERE rollout_id = ${rolloutId}::uuid GROUP BY phase, state ORDER BY phase`;
    return rows.map((r) => ({ phase: r.phase, state: r.state as RolloutDeviceState, n: Number(r.n) }));
  }

  async devices(
    rolloutId: string,
    q: { state?: string | undefined; limit: number; afterDeviceId?: string | undefined },
  ): Promise<RolloutDevice[]> {
    const rows = await this.db.$queryRaw<Array<Omit<RolloutDevice, 'state'> & { state: string }>>`
      SELECT rd.device_id::text AS "deviceId", d.name AS "deviceName", rd.phase, rd.state, rd.update_id AS "updateId",
        rd.reason, rd.previous_release_id::text AS "previousReleaseId", rd.dispatched_at AS "dispatchedAt",
        rd.last_progress_at AS "lastProgressAt", rd.finished_at AS "finishedAt", rd.dispatch_count AS "dispatchCount",
        rd.rollback_update_id AS "rollbackUpdateId"
      FROM rollout_devices rd JOIN devices d ON d.id = rd.device_id
      WHERE rd.rollout_id = ${rolloutId}::uuid
        AND (${q.state ?? null}::text IS NULL OR rd.state = ${q.state ?? null}::text)
        AND (${q.afterDeviceId ?? null}::uuid IS NULL OR rd.device_id > ${q.afterDeviceId ?? null}::uuid)
      ORDER BY rd.device_id LIMIT ${q.limit}`;
    return rows.map((r) => ({ ...r, state: r.state as RolloutDeviceState }));
  }

  /** A configuration change re-sent a device's target under a new update id: follow it. */
  async renameUpdate(deviceId: string, oldId: string, newId: string): Promise<void> {
    await this.db.$executeRaw`UPDATE rollout_devices SET update_id = ${newId}
      WHERE device_id = ${deviceId}::uuid AND update_id = ${oldId} AND state IN ('dispatched', 'downloading', 'installing', 'testing')`;
  }

  // ---- targeting ----

  /** Active devices of a fleet carrying every tag (and, when given, among `deviceIds`). */
  async matchingDevices(fleetId: string, tags: string[], deviceIds: string[]): Promise<DeviceFacts[]> {
    const rows = await this.db.$queryRawUnsafe<FactsRow[]>(
      `SELECT ${DEVICE_FACTS_SELECT} FROM devices d
       WHERE d.fleet_id = $1::uuid AND d.decommissioned_at IS NULL AND d.tags @> $2::text[]
         AND (cardinality($3::text[]) = 0 OR d.id::text = ANY($3::text[]))
       ORDER BY d.online DESC, d.created_at, d.id`,
      fleetId,
      tags,
      deviceIds,
    );
    return rows.map(toFacts);
  }

  async deviceFacts(ids: string[], db: Db = this.db): Promise<Map<string, DeviceFacts>> {
    if (ids.length === 0) return new Map();
    const rows = await db.$queryRawUnsafe<FactsRow[]>(
      `SELECT ${DEVICE_FACTS_SELECT} FROM devices d WHERE d.id = ANY($1::uuid[])`,
      ids,
    );
    return new Map(rows.map((r) => [r.id, toFacts(r)]));
  }

  // ---- the engine step ----

  /** Rollouts the engine still has work on; each replica then tries to lock them one by one. */
  async sweepIds(): Promise<string[]> {
    const rows = await this.db.$queryRaw<Array<{ id: string }>>`
      SELECT r.id::text AS id FROM rollouts r
      WHERE r.state IN ('running', 'paused')
         OR (r.state IN ('aborted', 'rolled-back') AND r.finished_at > now() - interval '1 hour')
         OR (r.state = 'completed' AND NOT EXISTS (
               SELECT 1 FROM rollouts n WHERE n.fleet_id = r.fleet_id AND n.created_at > r.created_at))
      ORDER BY r.created_at`;
    return rows.map((r) => r.id);
  }

  /**
   * Runs `fn` holding the rollout's row lock, or returns null at once when another replica holds
   * it (SKIP LOCKED). `wait` makes an operator action queue behind a running engine step instead.
   */
  async withLockedRollout<T>(
    id: string,
    fn: (tx: RolloutTx, rollout: Rollout) => Promise<T>,
    opts: { wait?: boolean } = {},
  ): Promise<T | null> {
    return this.db.$transaction(
      async (tx) => {
        const rows = opts.wait
          ? await tx.$queryRaw<RolloutRow[]>`SELECT id FROM rollouts WHERE id = ${id}::uuid FOR UPDATE`
          : await tx.$queryRaw<
              RolloutRow[]
            >`SELECT id FROM rollouts WHERE id = ${id}::uuid FOR UPDATE SKIP LOCKED`;
        if (rows.length === 0) return null;
        const rollout = await this.find(id, tx);
        if (!rollout) return null;
        return fn(new RolloutTx(tx, this), rollout);
      },
      { timeout: 120_000, maxWait: 30_000 },
    );
  }
}

/** The queries of one engine step, inside the transaction that holds the rollout's lock. */
export class RolloutTx {
  constructor(
    private readonly tx: Prisma.TransactionClient,
    private readonly repo: RolloutRepository,
  ) {}

  /** New matching devices join in `phase`; returns how many joined. */
  async join(r: Rollout, phase: number): Promise<number> {
    return this.tx
      .$executeRaw`INSERT INTO rollout_devices (rollout_id, device_id, phase, state, update_id, previous_release_id)
      SELECT ${r.id}::uuid, d.id, ${phase}, 'pending', 'u-' || gen_random_uuid()::text,
        (SELECT rel.id FROM releases rel WHERE rel.manifest_digest = d.current_revision_digest LIMIT 1)
      FROM devices d
      WHERE d.fleet_id = ${r.fleetId}::uuid AND d.decommissioned_at IS NULL AND d.tags @> ${r.tags}::text[]
        AND (cardinality(${r.deviceIds}::text[]) = 0 OR d.id::text = ANY(${r.deviceIds}::text[]))
        AND NOT EXISTS (SELECT 1 FROM rollout_devices rd WHERE rd.rollout_id = ${r.id}::uuid AND rd.device_id = d.id)
      ON CONFLICT DO NOTHING`;
  }

  /**
   * Per device of the rollout in one of `states`: the newest progress event of its update after
   * the last one applied, its reported revision, update state and container states.
   */
  async syncRows(
    rolloutId: string,
    states: readonly RolloutDeviceState[],
    opts: { phase?: number; rollback?: boolean; eventsAfter?: bigint } = {},
  ): Promise<SyncRow[]> {
    // `eventsAfter`: only devices with a progress event of a higher id (any update), found
    // through the events' primary key rather than by visiting every device of the rollout.
    const after = opts.eventsAfter?.toString() ?? null;
    const rows = await this.tx.$queryRaw<Array<Omit<SyncRow, 'state'> & { state: string }>>`
      SELECT rd.device_id::text AS "deviceId", rd.state, rd.phase, rd.last_event_id AS "lastEventId",
        e.id AS "eventId", e.status AS "eventStatus", e.reason AS "eventReason", e.message AS "eventMessage", e.at AS "eventAt",
        d.current_revision_digest AS "currentDigest", d.update_state AS "updateState", d.online,
        d.failed_revisions AS "failedRevisions",
        coalesce((SELECT array_agg(c.state) FROM device_containers c WHERE c.device_id = d.id), '{}') AS "containerStates",
        rd.rollback_update_id AS "rollbackUpdateId", rd.previous_release_id::text AS "previousReleaseId",
        (SELECT rel.manifest_digest FROM releases rel WHERE rel.id = rd.previous_release_id) AS "previousDigest"
      FROM rollout_devices rd
      JOIN devices d ON d.id = rd.device_id
      -- Replicas consume one device's messages in parallel, so events may be stored out of
      -- order: among the new ones a final status wins over any later-stored earlier step.
      LEFT JOIN LATERAL (
        SELECT max(ue.id) OVER () AS id, ue.status, ue.reason, ue.message, ue.at FROM update_events ue
        WHERE ue.update_id = rd.update_id AND ue.device_id = rd.device_id AND ue.id > rd.last_event_id
        ORDER BY (ue.status IN ('succeeded', 'failed', 'rolled-back')) DESC, (ue.status = 'rolled-back') DESC, ue.id DESC
        LIMIT 1) e ON true
      WHERE rd.rollout_id = ${rolloutId}::uuid AND rd.state = ANY(${[...states]}::text[])
        AND (${opts.phase ?? null}::int IS NULL OR rd.phase = ${opts.phase ?? null}::int)
        AND (${opts.rollback ?? false}::boolean IS FALSE OR rd.rollback_update_id IS NOT NULL)
        AND (${after}::bigint IS NULL OR rd.device_id IN (SELECT ue.device_id FROM update_events ue WHERE ue.id > ${after}::bigint))`;
    return rows.map((r) => ({ ...r, state: r.state as RolloutDeviceState }));
  }

  /**
   * The highest progress event id visible to this step's transaction. Events with a lower id
   * may still commit later (their transaction started first): only a full sync finds those.
   */
  async lastEventId(): Promise<bigint> {
    const [row] = await this.tx.$queryRaw<
      Array<{ id: bigint | null }>
    >`SELECT max(id) AS id FROM update_events`;
    return row?.id ?? 0n;
  }

  /** Applies every change of a step in one statement (a step may move thousands of devices). */
  async applyChanges(rolloutId: string, changes: DeviceChange[]): Promise<void> {
    if (changes.length === 0) return;
    await this.tx.$executeRaw`UPDATE rollout_devices rd SET state = c.state,
        reason = CASE WHEN c.set_reason THEN c.reason ELSE rd.reason END,
        last_event_id = GREATEST(rd.last_event_id, c.last_event_id),
        last_progress_at = coalesce(c.last_progress_at, rd.last_progress_at),
        finished_at = CASE WHEN c.finished THEN now() ELSE rd.finished_at END
      FROM unnest(${changes.map((c) => c.deviceId)}::uuid[], ${changes.map((c) => c.state)}::text[],
        ${changes.map((c) => c.reason !== undefined)}::boolean[], ${changes.map((c) => c.reason ?? null)}::text[],
        ${changes.map((c) => (c.lastEventId ?? 0n).toString())}::bigint[], ${changes.map((c) => c.lastProgressAt ?? null)}::timestamptz[],
        ${changes.map((c) => c.finished ?? false)}::boolean[])
        AS c(device_id, state, set_reason, reason, last_event_id, last_progress_at, finished)
      WHERE rd.rollout_id = ${rolloutId}::uuid AND rd.device_id = c.device_id`;
  }

  /**
   * In-flight devices with no sign of life for the deadline become `timed-out`; the reason says
   * whether the device is offline (presence) or online but silent (progress).
   */
  async timeOut(r: Rollout): Promise<number> {
    return this.tx.$executeRaw`UPDATE rollout_devices rd SET state = 'timed-out', finished_at = now(),
        reason = CASE WHEN d.online THEN 'no progress for ' ELSE 'offline, no progress for ' END || ${r.deviceTimeoutSeconds} || ' s'
      FROM devices d
      WHERE d.id = rd.device_id AND rd.rollout_id = ${r.id}::uuid
        AND rd.state IN ('dispatched', 'downloading', 'installing', 'testing')
        AND GREATEST(rd.dispatched_at, coalesce(rd.last_progress_at, rd.dispatched_at)) < now() - make_interval(secs => ${r.deviceTimeoutSeconds})`;
  }

  async phaseStates(rolloutId: string, upToPhase: number): Promise<RolloutDeviceState[]> {
    const rows = await this.tx.$queryRaw<Array<{ state: string; n: bigint }>>`
      SELECT state, count(*) AS n FROM rollout_devices WHERE rollout_id = ${rolloutId}::uuid AND phase <= ${upToPhase} GROUP BY state`;
    return rows.flatMap((r) => Array.from({ length: Number(r.n) }, () => r.state as RolloutDeviceState));
  }

  async countInStates(rolloutId: string, states: readonly RolloutDeviceState[]): Promise<number> {
    const [row] = await this.tx.$queryRaw<Array<{ n: bigint }>>`
      SELECT count(*) AS n FROM rollout_devices WHERE rollout_id = ${rolloutId}::uuid AND state = ANY(${[...states]}::text[])`;
    return Number(row?.n ?? 0);
  }

  async maxPhase(rolloutId: string): Promise<number> {
    const [row] = await this.tx.$queryRaw<
      Array<{ m: number | null }>
    >`SELECT max(phase) AS m FROM rollout_devices WHERE rollout_id = ${rolloutId}::uuid`;
    return row?.m ?? 0;
  }

  /**
   * Pending devices of phases up to `upToPhase`, online ones first, at most `limit`, with what
   * the engine checks before sending (one query per dispatch batch, not one per device).
   */
  async nextPending(rolloutId: string, upToPhase: number, limit: number): Promise<PendingDevice[]> {
    if (limit <= 0) return [];
    return this.tx.$queryRaw<PendingDevice[]>`
      SELECT rd.device_id::text AS "deviceId", rd.update_id AS "updateId", d.board, d.agent_version AS "agentVersion",
        d.failed_revisions AS "failedRevisions"
      FROM rollout_devices rd JOIN devices d ON d.id = rd.device_id
      WHERE rd.rollout_id = ${rolloutId}::uuid AND rd.state = 'pending' AND rd.phase <= ${upToPhase} AND d.decommissioned_at IS NULL
      ORDER BY rd.phase, d.online DESC, rd.joined_at, rd.device_id LIMIT ${limit}`;
  }

  /**
   * Marks devices dispatched before their targets are published (same transaction: a publish
   * that fails rolls the mark back). `dispatched_at` is the wall clock of this statement, the
   * moment the decision is written, not the step's transaction start.
   */
  async markDispatchedMany(rolloutId: string, deviceIds: string[]): Promise<void> {
    if (deviceIds.length === 0) return;
    await this.tx
      .$executeRaw`UPDATE rollout_devices SET state = 'dispatched', dispatched_at = clock_timestamp(), dispatch_count = dispatch_count + 1,
      reason = NULL WHERE rollout_id = ${rolloutId}::uuid AND device_id = ANY(${deviceIds}::uuid[])`;
  }

  /** Dispatched devices that never reported progress: an abort withdraws their target. */
  async notStarted(
    rolloutId: string,
  ): Promise<Array<{ deviceId: string; previousReleaseId: string | null }>> {
    return this.tx.$queryRaw<Array<{ deviceId: string; previousReleaseId: string | null }>>`
      SELECT device_id::text AS "deviceId", previous_release_id::text AS "previousReleaseId" FROM rollout_devices
      WHERE rollout_id = ${rolloutId}::uuid AND state = 'dispatched' AND last_progress_at IS NULL`;
  }

  /** Devices a rollback must return (everything that got a target), not yet sent back. */
  async rollbackCandidates(
    rolloutId: string,
    limit: number,
  ): Promise<Array<{ deviceId: string; previousReleaseId: string | null; state: RolloutDeviceState }>> {
    const rows = await this.tx.$queryRaw<
      Array<{ deviceId: string; previousReleaseId: string | null; state: string }>
    >`
      SELECT device_id::text AS "deviceId", previous_release_id::text AS "previousReleaseId", state FROM rollout_devices
      WHERE rollout_id = ${rolloutId}::uuid AND state <> 'pending' AND rollback_update_id IS NULL AND rollback_at IS NULL
      ORDER BY device_id LIMIT ${limit}`;
    return rows.map((r) => ({ ...r, state: r.state as RolloutDeviceState }));
  }

  async markRollbackSent(
    rolloutId: string,
    deviceId: string,
    updateId: string | null,
    reason: string | null,
  ): Promise<void> {
    await this.tx
      .$executeRaw`UPDATE rollout_devices SET rollback_update_id = ${updateId}, rollback_at = now(),
      reason = coalesce(${reason}, reason) WHERE rollout_id = ${rolloutId}::uuid AND device_id = ${deviceId}::uuid`;
  }

  async setState(
    rolloutId: string,
    s: {
      state?: RolloutState;
      stateReason?: string | null;
      currentPhase?: number;
      bakeStartedAt?: Date | null;
      acknowledgedFailures?: number;
      finished?: boolean;
    },
  ): Promise<void> {
    await this.tx.rollout.update({
      where: { id: rolloutId },
      data: {
        ...(s.state !== undefined ? { state: s.state } : {}),
        ...(s.stateReason !== undefined ? { stateReason: s.stateReason } : {}),
        ...(s.currentPhase !== undefined ? { currentPhase: s.currentPhase } : {}),
        ...(s.bakeStartedAt !== undefined ? { bakeStartedAt: s.bakeStartedAt } : {}),
        ...(s.acknowledgedFailures !== undefined ? { acknowledgedFailures: s.acknowledgedFailures } : {}),
        ...(s.finished ? { finishedAt: new Date() } : {}),
        updatedAt: new Date(),
      },
    });
  }

  deviceFacts(ids: string[]): Promise<Map<string, DeviceFacts>> {
    return this.repo.deviceFacts(ids, this.tx);
  }
}

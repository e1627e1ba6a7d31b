import { Injectable, Inject } from '@nestjs/common';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';
import type { PoolClient } from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { PgPool } from '../database/pg-pool.js';
import { PrismaService } from '../database/prisma.service.js';
import type { TelemetryBatchItem, TelemetryPoint, TelemetryRow } from './telemetry.types.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const COLUMNS =
  'device_id, at, cpu_percent, mem_used_bytes, mem_total_bytes, disk_used_bytes, disk_total_bytes, temperature_c, uptime_seconds';
/** Postgres `unique_violation`: a sample already stored (same device and time). */
const UNIQUE_VIOLATION = '23505';

/** One COPY text-format line. Every field is a uuid, an ISO time or a finite number: no escaping needed. */
function copyLine(deviceId: string, s: TelemetryBatchItem['samples'][number]): string {
  return `${deviceId}\t${s.time}\t${s.cpuPercent}\t${s.memUsedBytes}\t${s.memTotalBytes}\t${s.diskUsedBytes}\t${s.diskTotalBytes}\t${s.temperatureC ?? '\\N'}\t${s.uptimeSeconds ?? '\\N'}\n`;
}

@Injectable()
export class TelemetryRepository {
  constructor(
    @Inject(PrismaService) private readonly db: PrismaService,
    @Inject(PgPool) private readonly pg: PgPool,
  ) {}

  /**
   * Writes a batch with `COPY ... FROM STDIN` straight into `telemetry` (no per-row executor
   * work, one round trip). COPY cannot skip conflicts, so a batch holding a sample already
   * stored (same device and time: an agent's replay after reconnect) fails with a unique
   * violation and is written again through a temporary table with `ON CONFLICT DO NOTHING`.
   * Rows with a device id that is not a uuid (a device cannot have one; it would fail the
   * whole COPY) are left out. Returns the rows written.
   */
  async insertRows(rows: readonly TelemetryRow[]): Promise<number> {
    // protocol validated every field: numbers are finite (safe integers for bytes), times ISO 8601.
    const lines: string[] = [];
    // A message's rows come one after the other: the id just checked is not checked again (a
    // regular expression per row showed in the ingest profile).
    let checked: string | undefined;
    for (const row of rows) {
      if (row.deviceId !== checked) {
        if (!UUID.test(row.deviceId)) continue;
        checked = row.deviceId;
      }
      lines.push(copyLine(row.deviceId, row));
    }
    return this.writeLines(lines);
  }

  /** COPY of ready lines; on a unique violation, again through a table that skips conflicts. */
  private async writeLines(lines: string[]): Promise<number> {
    if (lines.length === 0) return 0;
    const client = await this.pg.pool.connect();
    try {
      try {
        await this.copy(client, `COPY telemetry (${COLUMNS}) FROM STDIN`, lines);
        return lines.length;
      } catch (error) {
        if ((error as { code?: string }).code !== UNIQUE_VIOLATION) throw error;
      }
      await client.query('BEGIN');
      try {
        await client.query(
          'CREATE TEMP TABLE telemetry_in (LIKE telemetry INCLUDING DEFAULTS) ON COMMIT DROP',
        );
        await this.copy(client, `COPY telemetry_in (${COLUMNS}) FROM STDIN`, lines);
        const r = await client.query(
          `INSERT INTO telemetry (${COLUMNS}) SELECT ${COLUMNS} FROM telemetry_in ON CONFLICT (device_id, at) DO NOTHING`,
        );
        await client.query('COMMIT');
        return r.rowCount ?? 0;
      } catch (error) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw error;
      }
    } finally {
      client.release();
    }
  }

  private async copy(client: PoolClient, sql: string, lines: string[]): Promise<void> {
    // One chunk per ~1000 lines keeps the stream's buffering cheap without building one huge string.
    const chunks: string[] = [];
    for (let i = 0; i < lines.length; i += 1000) chunks.push(lines.slice(i, i + 1000).join(''));
    await pipeline(Readable.from(chunks), client.query(copyFrom(sql)));
  }

  /** Fleet of each of these devices (unknown ones left out): for the live telemetry events. */
  async fleetsOf(deviceIds: string[]): Promise<Map<string, string>> {
    const ids = deviceIds.filter((id) => UUID.test(id));
    if (ids.length === 0) return new Map();
    const rows = await this.db.$queryRaw<Array<{ id: string; fleet_id: string }>>`
      SELECT id::text AS id, fleet_id::text AS fleet_id FROM devices WHERE id = ANY(${ids}::uuid[]) AND decommissioned_at IS NULL`;
    return new Map(rows.map((r) => [r.id, r.fleet_id]));
  }

  async query(deviceId: string, from: Date, to: Date, bucketSeconds: number): Promise<TelemetryPoint[]> {
    const rows = await this.db.$queryRaw<Array<Record<string, unknown>>>`
      SELECT date_bin(make_interval(secs => ${bucketSeconds}), at, TIMESTAMPTZ '2000-01-01') AS bucket, count(*)::int AS samples,
        avg(cpu_percent)::float8 AS cpu, avg(mem_used_bytes)::float8 AS mu, avg(mem_total_bytes)::float8 AS mt,
        avg(disk_used_bytes)::float8 AS du, avg(disk_total_bytes)::float8 AS dt, avg(temperature_c)::float8 AS temp, max(uptime_seconds)::float8 AS up
      FROM telemetry WHERE device_id = ${deviceId}::uuid AND at >= ${from} AND at < ${to}
      GROUP BY bucket ORDER BY bucket LIMIT 5000`;
    const n = (v: unknown): number | null => (v === null || v === undefined ? null : Number(v));
    return rows.map((r) => ({
      at: r.bucket as Date,
      samples: Number(r.samples),
      cpuPercent: n(r.cpu),
      memUsedBytes: n(r.mu),
      memTotalBytes: n(r.mt),
      diskUsedBytes: n(r.du),
      diskTotalBytes: n(r.dt),
      temperatureC: n(r.temp),
      uptimeSeconds: n(r.up),
    }));
  }

  /**
   * Deletes samples older than `before` (the BRIN on `at` finds them without a full scan),
   * unless another replica is doing it right now: a transaction-scoped advisory lock makes
   * retention run once per interval across replicas. Returns null when skipped.
   */
  async deleteBefore(before: Date, lockKey: number): Promise<number | null> {
    return this.db.$transaction(
      async (tx) => {
        const [row] = await tx.$queryRaw<
          Array<{ locked: boolean }>
        >`SELECT pg_try_advisory_xact_lock(${lockKey}::bigint) AS locked`;
        if (!row?.locked) return null;
        return tx.$executeRaw`DELETE FROM telemetry WHERE at < ${before}`;
      },
      { timeout: 600_000 },
    );
  }
}

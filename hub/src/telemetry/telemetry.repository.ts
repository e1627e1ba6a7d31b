import { Injectable, Inject } from '@nestjs/common';
import { PrismaService } from '../database/prisma.service.js';
import type { TelemetryBatchItem, TelemetryPoint } from './telemetry.types.js';

@Injectable()
export class TelemetryRepository {
  constructor(@Inject(PrismaService) private readonly db: PrismaService) {}

  /**
   * One INSERT for the whole batch (arrays unnested server-side): one round trip whatever the
   * batch size. A sample repeated (same device and time, e.g. a replay after reconnect) is
   * ignored. Returns the rows written.
   */
  async insertBatch(batch: TelemetryBatchItem[]): Promise<number> {
    const dev: string[] = [],
      at: string[] = [],
      cpu: number[] = [],
      mu: string[] = [],
      mt: string[] = [],
      du: string[] = [],
      dt: string[] = [];
    const temp: Array<number | null> = [],
      up: Array<number | null> = [];
    for (const item of batch) {
      for (const s of item.samples) {
        dev.push(item.deviceId);
        at.push(s.time);
        cpu.push(s.cpuPercent);
        mu.push(String(s.memUsedBytes));
        mt.push(String(s.memTotalBytes));
        du.push(String(s.diskUsedBytes));
        dt.push(String(s.diskTotalBytes));
        temp.push(s.temperatureC ?? null);
        up.push(s.uptimeSeconds ?? null);
      }
    }
    if (dev.length === 0) return 0;
    return this.db
      .$executeRaw`INSERT INTO telemetry (device_id, at, cpu_percent, mem_used_bytes, mem_total_bytes, disk_used_bytes, disk_total_bytes, temperature_c, uptime_seconds)
      SELECT * FROM unnest(${dev}::uuid[], ${at}::timestamptz[], ${cpu}::real[], ${mu}::bigint[], ${mt}::bigint[], ${du}::bigint[], ${dt}::bigint[], ${temp}::real[], ${up}::float8[])
      ON CONFLICT (device_id, at) DO NOTHING`;
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

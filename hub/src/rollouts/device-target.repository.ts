import { Inject, Injectable } from '@nestjs/common';
import { PrismaService } from '../database/prisma.service.js';

export interface DeviceTargetRecord {
  deviceId: string;
  releaseId: string;
  updateId: string;
  rolloutId: string | null;
  configVersion: number;
  force: boolean;
  bakeSeconds: number;
  publishedAt: Date;
}

/** What the hub last put on each device's retained target topic. */
@Injectable()
export class DeviceTargetRepository {
  constructor(@Inject(PrismaService) private readonly db: PrismaService) {}

  async record(t: DeviceTargetRecord): Promise<void> {
    const { deviceId, ...rest } = t;
    await this.db.deviceTarget.upsert({ where: { deviceId }, create: t, update: rest });
  }

  /** Records many published targets in one statement. */
  async recordMany(ts: DeviceTargetRecord[]): Promise<void> {
    if (ts.length === 0) return;
    await this.db
      .$executeRaw`INSERT INTO device_targets (device_id, release_id, update_id, rollout_id, config_version, force, bake_seconds, published_at)
      SELECT * FROM unnest(${ts.map((t) => t.deviceId)}::uuid[], ${ts.map((t) => t.releaseId)}::uuid[], ${ts.map((t) => t.updateId)}::text[],
        ${ts.map((t) => t.rolloutId)}::uuid[], ${ts.map((t) => t.configVersion)}::int[], ${ts.map((t) => t.force)}::boolean[],
        ${ts.map((t) => t.bakeSeconds)}::int[], ${ts.map((t) => t.publishedAt)}::timestamptz[])
      ON CONFLICT (device_id) DO UPDATE SET release_id = EXCLUDED.release_id, update_id = EXCLUDED.update_id,
        rollout_id = EXCLUDED.rollout_id, config_version = EXCLUDED.config_version, force = EXCLUDED.force,
        bake_seconds = EXCLUDED.bake_seconds, published_at = EXCLUDED.published_at`;
  }

  async remove(deviceId: string): Promise<void> {
    await this.db.deviceTarget.deleteMany({ where: { deviceId } });
  }

  async find(deviceId: string): Promise<DeviceTargetRecord | null> {
    return this.db.deviceTarget.findUnique({ where: { deviceId } });
  }

  async findMany(deviceIds: string[]): Promise<DeviceTargetRecord[]> {
    return this.db.deviceTarget.findMany({ where: { deviceId: { in: deviceIds } } });
  }

  /** Every recorded target of an active device, in pages (after an embedded broker restart). */
  async page(afterDeviceId: string | null, limit: number): Promise<DeviceTargetRecord[]> {
    return this.db.$queryRaw<DeviceTargetRecord[]>`
      SELECT t.device_id::text AS "deviceId", t.release_id::text AS "releaseId", t.update_id AS "updateId",
        t.rollout_id::text AS "rolloutId", t.config_version AS "configVersion", t.force, t.bake_seconds AS "bakeSeconds",
        t.published_at AS "publishedAt"
      FROM device_targets t JOIN devices d ON d.id = t.device_id AND d.decommissioned_at IS NULL
      WHERE (${afterDeviceId}::uuid IS NULL OR t.device_id > ${afterDeviceId}::uuid)
      ORDER BY t.device_id LIMIT ${limit}`;
  }

  /** Fleet and the release matching the device's reported revision (for a first config-only target). */
  async deviceHome(deviceId: string): Promise<{ fleetId: string; currentReleaseId: string | null } | null> {
    const [row] = await this.db.$queryRaw<Array<{ fleetId: string; currentReleaseId: string | null }>>`
      SELECT d.fleet_id::text AS "fleetId",
        (SELECT r.id::text FROM releases r WHERE r.manifest_digest = d.current_revision_digest LIMIT 1) AS "currentReleaseId"
      FROM devices d WHERE d.id = ${deviceId}::uuid AND d.decommissioned_at IS NULL`;
    return row ?? null;
  }
}

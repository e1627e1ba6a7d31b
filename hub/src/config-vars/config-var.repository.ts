import { Inject, Injectable } from '@nestjs/common';
import type { MaintenanceWindow } from '@fleet/protocol';
import { PrismaService } from '../database/prisma.service.js';
import type { Prisma } from '../generated/prisma/client.js';
import type { ConfigScopeType, ConfigVariable } from './config-var.types.js';

/**
 * Fleet and device variables per container, and each scope's version counter. Every change
 * bumps its scope's counter in the same transaction, so a device's configVersion (fleet's plus
 * its own) only grows and two concurrent changes never share a version.
 */
@Injectable()
export class ConfigVarRepository {
  constructor(@Inject(PrismaService) private readonly db: PrismaService) {}

  async list(scopeType: ConfigScopeType, scopeId: string): Promise<ConfigVariable[]> {
    const rows = await this.db.configVariable.findMany({
      where: { scopeType, scopeId },
      orderBy: [{ container: 'asc' }, { name: 'asc' }],
    });
    return rows.map((r) => ({ ...r, scopeType: r.scopeType as ConfigScopeType }));
  }

  async version(scopeType: ConfigScopeType, scopeId: string): Promise<number> {
    const row = await this.db.configScope.findUnique({
      where: { scopeType_scopeId: { scopeType, scopeId } },
    });
    return row?.version ?? 0;
  }

  /** Sets (value) or removes (null) one variable; returns the previous value and the new version, or null when nothing changed. */
  async change(
    scopeType: ConfigScopeType,
    scopeId: string,
    container: string,
    name: string,
    value: string | null,
    by: string,
  ): Promise<{ previous: string | null; version: number } | null> {
    return this.db.$transaction(async (tx) => {
      await this.bumpLock(tx, scopeType, scopeId);
      const key = { scopeType_scopeId_container_name: { scopeType, scopeId, container, name } };
      const prev = await tx.configVariable.findUnique({ where: key });
      if ((prev?.value ?? null) === value) return null;
      if (value === null) await tx.configVariable.delete({ where: key });
      else
        await tx.configVariable.upsert({
          where: key,
          create: { scopeType, scopeId, container, name, value, updatedBy: by },
          update: { value, updatedBy: by, updatedAt: new Date() },
        });
      const s = await tx.configScope.update({
        where: { scopeType_scopeId: { scopeType, scopeId } },
        data: { version: { increment: 1 }, updatedAt: new Date() },
      });
      return { previous: prev?.value ?? null, version: s.version };
    });
  }

  /** Creates the scope row if missing and locks it, so concurrent changes serialise. */
  private async bumpLock(
    tx: Prisma.TransactionClient,
    scopeType: ConfigScopeType,
    scopeId: string,
  ): Promise<void> {
    await tx.$executeRaw`INSERT INTO config_scopes (scope_type, scope_id) VALUES (${scopeType}, ${scopeId}::uuid) ON CONFLICT DO NOTHING`;
    await tx.$queryRaw`SELECT 1 FROM config_scopes WHERE scope_type = ${scopeType} AND scope_id = ${scopeId}::uuid FOR UPDATE`;
  }

  /** The configuration a device receives: fleet variables overlaid with its own, and the summed version. */
  async effective(
    deviceId: string,
    fleetId: string,
  ): Promise<{ config: Record<string, Record<string, string>>; version: number }> {
    const rows = await this.db.configVariable.findMany({
      where: {
        OR: [
          { scopeType: 'fleet', scopeId: fleetId },
          { scopeType: 'device', scopeId: deviceId },
        ],
      },
    });
    const config: Record<string, Record<string, string>> = {};
    // Fleet first, then device: a device variable overrides the fleet's of the same name.
    for (const r of [
      ...rows.filter((r) => r.scopeType === 'fleet'),
      ...rows.filter((r) => r.scopeType === 'device'),
    ]) {
      (config[r.container] ??= {})[r.name] = r.value;
    }
    const scopes = await this.db.configScope.findMany({
      where: {
        OR: [
          { scopeType: 'fleet', scopeId: fleetId },
          { scopeType: 'device', scopeId: deviceId },
        ],
      },
    });
    return { config, version: scopes.reduce((n, s) => n + s.version, 0) };
  }

  /** `effective` for many devices of one fleet in two queries (the engine dispatches in batches). */
  async effectiveMany(
    deviceIds: string[],
    fleetId: string,
  ): Promise<Map<string, { config: Record<string, Record<string, string>>; version: number }>> {
    const [vars, scopes] = await Promise.all([
      this.db.configVariable.findMany({
        where: {
          OR: [
            { scopeType: 'fleet', scopeId: fleetId },
            { scopeType: 'device', scopeId: { in: deviceIds } },
          ],
        },
      }),
      this.db.configScope.findMany({
        where: {
          OR: [
            { scopeType: 'fleet', scopeId: fleetId },
            { scopeType: 'device', scopeId: { in: deviceIds } },
          ],
        },
      }),
    ]);
    const fleetVersion = scopes.find((s) => s.scopeType === 'fleet')?.version ?? 0;
    const out = new Map<string, { config: Record<string, Record<string, string>>; version: number }>();
    for (const id of deviceIds) {
      const config: Record<string, Record<string, string>> = {};
      // Fleet first, then device: a device variable overrides the fleet's of the same name.
      for (const r of vars.filter((v) => v.scopeType === 'fleet'))
        (config[r.container] ??= {})[r.name] = r.value;
      for (const r of vars.filter((v) => v.scopeType === 'device' && v.scopeId === id))
        (config[r.container] ??= {})[r.name] = r.value;
      const own = scopes.find((s) => s.scopeType === 'device' && s.scopeId === id)?.version ?? 0;
      out.set(id, { config, version: fleetVersion + own });
    }
    return out;
  }

  async window(fleetId: string): Promise<MaintenanceWindow | null> {
    const row = await this.db.configScope.findUnique({
      where: { scopeType_scopeId: { scopeType: 'fleet', scopeId: fleetId } },
    });
    return (row?.window as MaintenanceWindow | null | undefined) ?? null;
  }

  async setWindow(fleetId: string, window: MaintenanceWindow | null): Promise<MaintenanceWindow | null> {
    const previous = await this.window(fleetId);
    const value =
      window === null
        ? { window: null as unknown as Prisma.InputJsonValue }
        : { window: window as unknown as Prisma.InputJsonValue };
    await this.db.configScope.upsert({
      where: { scopeType_scopeId: { scopeType: 'fleet', scopeId: fleetId } },
      create: { scopeType: 'fleet', scopeId: fleetId, ...value },
      update: { ...value, updatedAt: new Date() },
    });
    return previous;
  }

  /** Devices whose configuration a change of this scope touches. */
  async devicesOf(scopeType: ConfigScopeType, scopeId: string): Promise<string[]> {
    const rows =
      scopeType === 'device'
        ? await this.db.$queryRaw<
            Array<{ id: string }>
          >`SELECT id::text AS id FROM devices WHERE id = ${scopeId}::uuid AND decommissioned_at IS NULL`
        : await this.db.$queryRaw<
            Array<{ id: string }>
          >`SELECT id::text AS id FROM devices WHERE fleet_id = ${scopeId}::uuid AND decommissioned_at IS NULL`;
    return rows.map((r) => r.id);
  }
}

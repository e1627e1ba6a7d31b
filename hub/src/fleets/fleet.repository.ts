import { Injectable, Inject } from '@nestjs/common';
import { PrismaService } from '../database/prisma.service.js';
import type { ClaimToken, Fleet } from './fleet.types.js';

type ClaimRow = Omit<ClaimToken, never> & { tokenHash: string };

function toClaim(r: ClaimRow): ClaimToken {
  return {
    id: r.id,
    fleetId: r.fleetId,
    name: r.name,
    tags: r.tags,
    maxUses: r.maxUses,
    uses: r.uses,
    expiresAt: r.expiresAt,
    revokedAt: r.revokedAt,
    createdAt: r.createdAt,
    createdBy: r.createdBy,
  };
}

@Injectable()
export class FleetRepository {
  constructor(@Inject(PrismaService) private readonly db: PrismaService) {}

  async create(name: string, description: string): Promise<Fleet | 'name-taken'> {
    if (await this.db.fleet.findUnique({ where: { name } })) return 'name-taken';
    const r = await this.db.fleet.create({ data: { name, description } });
    return { ...r, deviceCount: 0 };
  }

  async list(): Promise<Fleet[]> {
    const rows = await this.db.fleet.findMany({
      orderBy: { name: 'asc' },
      include: { _count: { select: { devices: { where: { decommissionedAt: null } } } } },
    });
    return rows.map((r) => ({
      id: r.id,
      name: r.name,
      description: r.description,
      createdAt: r.createdAt,
      deviceCount: r._count.devices,
    }));
  }

  async find(idOrName: string): Promise<Fleet | null> {
    const isUuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(idOrName);
    const r = await this.db.fleet.findFirst({
      where: isUuid ? { id: idOrName } : { name: idOrName },
      include: { _count: { select: { devices: { where: { decommissionedAt: null } } } } },
    });
    return r
      ? {
          id: r.id,
          name: r.name,
          description: r.description,
          createdAt: r.createdAt,
          deviceCount: r._count.devices,
        }
      : null;
  }

  async update(id: string, description: string): Promise<void> {
    await this.db.fleet.update({ where: { id }, data: { description } });
  }

  /** Deletes a fleet with no devices ever registered (decommissioned ones keep their history). */
  async deleteIfEmpty(id: string): Promise<boolean> {
    const n = await this.db.device.count({ where: { fleetId: id } });
    if (n > 0) return false;
    await this.db.fleet.delete({ where: { id } });
    return true;
  }

  async createClaimToken(input: {
    fleetId: string;
    name: string;
    tokenHash: string;
    tags: string[];
    maxUses: number | null;
    expiresAt: Date | null;
    createdBy: string;
  }): Promise<ClaimToken> {
    return toClaim(await this.db.claimToken.create({ data: input }));
  }

  async listClaimTokens(fleetId: string): Promise<ClaimToken[]> {
    return (await this.db.claimToken.findMany({ where: { fleetId }, orderBy: { createdAt: 'desc' } })).map(
      toClaim,
    );
  }

  async findClaimToken(id: string): Promise<ClaimToken | null> {
    const r = await this.db.claimToken.findUnique({ where: { id } });
    return r ? toClaim(r) : null;
  }

  async revokeClaimToken(id: string, at: Date): Promise<void> {
    await this.db.claimToken.updateMany({ where: { id, revokedAt: null }, data: { revokedAt: at } });
  }
}

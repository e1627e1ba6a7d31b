import { Injectable, Inject } from '@nestjs/common';
import type { ReleaseManifest } from '@fleet/protocol';
import { PrismaService } from '../database/prisma.service.js';
import type { Prisma } from '../generated/prisma/client.js';
import type { Release, ReleaseSummary, SigningKeyRecord } from './release.types.js';

type ReleaseRow = {
  id: string;
  version: string;
  sequence: number;
  manifest: unknown;
  manifestDigest: string;
  compatibleBoards: string[];
  notes: string;
  createdAt: Date;
  createdBy: string;
  yankedAt: Date | null;
  yankReason: string | null;
};

function summary(r: ReleaseRow): ReleaseSummary {
  const m = r.manifest as ReleaseManifest;
  return {
    id: r.id,
    version: r.version,
    sequence: r.sequence,
    manifestDigest: r.manifestDigest,
    board: m.board,
    compatibleBoards: r.compatibleBoards,
    notes: r.notes,
    createdAt: r.createdAt,
    createdBy: r.createdBy,
    yankedAt: r.yankedAt,
    yankReason: r.yankReason,
  };
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

@Injectable()
export class ReleaseRepository {
  constructor(@Inject(PrismaService) private readonly db: PrismaService) {}

  async listKeys(includeRevoked: boolean): Promise<SigningKeyRecord[]> {
    return this.db.signingKey.findMany({
      where: includeRevoked ? {} : { revokedAt: null },
      orderBy: { createdAt: 'asc' },
    });
  }

  async findKey(keyId: string): Promise<SigningKeyRecord | null> {
    return this.db.signingKey.findUnique({ where: { keyId } });
  }

  async createKey(k: {
    keyId: string;
    alg: string;
    publicKey: string;
    name: string;
  }): Promise<SigningKeyRecord> {
    return this.db.signingKey.create({ data: k });
  }

  async revokeKey(keyId: string, at: Date): Promise<void> {
    await this.db.signingKey.updateMany({ where: { keyId, revokedAt: null }, data: { revokedAt: at } });
  }

  /** Outcome of an insert: the conflicting release when version or sequence is taken. */
  async create(input: {
    version: string;
    sequence: number;
    manifest: ReleaseManifest;
    manifestDigest: string;
    compatibleBoards: string[];
    notes: string;
    createdBy: string;
    objects: Array<{ digest: string; role: string }>;
  }): Promise<{ created: Release } | { conflict: ReleaseSummary } | { notNewer: number }> {
    return this.db.$transaction(async (tx) => {
      // Serialise release creation: version and sequence uniqueness plus "sequence above every
      // earlier one" is checked and written under one lock.
      await tx.$executeRaw`SELECT pg_advisory_xact_lock(${0x666c03}::bigint)`;
      const clash = await tx.release.findFirst({
        where: { OR: [{ version: input.version }, { sequence: input.sequence }] },
      });
      if (clash) return { conflict: summary(clash) };
      const max = (await tx.release.aggregate({ _max: { sequence: true } }))._max.sequence;
      if (max !== null && input.sequence <= max) return { notNewer: max };
      const r = await tx.release.create({
        data: {
          version: input.version,
          sequence: input.sequence,
          manifest: input.manifest as unknown as Prisma.InputJsonValue,
          manifestDigest: input.manifestDigest,
          compatibleBoards: input.compatibleBoards,
          notes: input.notes,
          createdBy: input.createdBy,
          objects: { create: input.objects.map((o) => ({ digest: o.digest, role: o.role })) },
        },
      });
      return { created: await this.toRelease(tx, r) };
    });
  }

  private async toRelease(tx: Prisma.TransactionClient | PrismaService, r: ReleaseRow): Promise<Release> {
    const objs = await tx.releaseObject.findMany({
      where: { releaseId: r.id },
      include: { object: true },
      orderBy: [{ role: 'asc' }],
    });
    const m = r.manifest as ReleaseManifest;
    return {
      ...summary(r),
      manifest: m,
      objects: objs.map((o) => ({ digest: o.digest, size: Number(o.object.size), role: o.role })),
      signedBy: m.signatures.map((s) => s.keyId),
    };
  }

  async find(idOrVersion: string): Promise<Release | null> {
    const r = await this.db.release.findFirst({
      where: UUID.test(idOrVersion) ? { id: idOrVersion } : { version: idOrVersion },
    });
    return r ? this.toRelease(this.db, r) : null;
  }

  async list(q: {
    includeYanked: boolean;
    board?: string | undefined;
    beforeSequence?: number | undefined;
    limit: number;
  }): Promise<ReleaseSummary[]> {
    const rows = await this.db.release.findMany({
      where: {
        ...(q.includeYanked ? {} : { yankedAt: null }),
        ...(q.board ? { compatibleBoards: { has: q.board } } : {}),
        ...(q.beforeSequence !== undefined ? { sequence: { lt: q.beforeSequence } } : {}),
      },
      orderBy: { sequence: 'desc' },
      take: q.limit,
    });
    return rows.map(summary);
  }

  async maxSequence(): Promise<number | null> {
    const r = await this.db.release.aggregate({ _max: { sequence: true } });
    return r._max.sequence;
  }

  async yank(id: string, reason: string, at: Date): Promise<void> {
    await this.db.release.updateMany({
      where: { id, yankedAt: null },
      data: { yankedAt: at, yankReason: reason },
    });
  }
}

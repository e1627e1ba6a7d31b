import { Injectable, Inject } from '@nestjs/common';
import { PrismaService } from '../database/prisma.service.js';

export interface ObjectRecord {
  digest: string;
  size: number;
  mediaType: string | null;
  createdAt: Date;
}

@Injectable()
export class ObjectRepository {
  constructor(@Inject(PrismaService) private readonly db: PrismaService) {}

  async upsert(digest: string, size: number, mediaType: string | null): Promise<void> {
    await this.db.storedObject.upsert({
      where: { digest },
      create: { digest, size: BigInt(size), mediaType },
      update: {},
    });
  }

  async find(digest: string): Promise<ObjectRecord | null> {
    const r = await this.db.storedObject.findUnique({ where: { digest } });
    return r
      ? { digest: r.digest, size: Number(r.size), mediaType: r.mediaType, createdAt: r.createdAt }
      : null;
  }

  async findMany(digests: string[]): Promise<ObjectRecord[]> {
    const rows = await this.db.storedObject.findMany({ where: { digest: { in: digests } } });
    return rows.map((r) => ({
      digest: r.digest,
      size: Number(r.size),
      mediaType: r.mediaType,
      createdAt: r.createdAt,
    }));
  }
}

import { Injectable, Inject } from '@nestjs/common';
import { PrismaService } from '../database/prisma.service.js';

@Injectable()
export class HealthRepository {
  constructor(@Inject(PrismaService) private readonly db: PrismaService) {}

  /** Round trip to Postgres and the migration table (a reachable but unmigrated DB is not ready). */
  async ping(): Promise<{ migrations: number }> {
    const rows = await this.db.$queryRaw<
      Array<{ n: number }>
    >`SELECT count(*)::int AS n FROM _fleet_migrations`;
    return { migrations: rows[0]?.n ?? 0 };
  }
}

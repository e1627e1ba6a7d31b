import { Injectable, Inject } from '@nestjs/common';
import { PrismaService } from '../database/prisma.service.js';
import { Prisma } from '../generated/prisma/client.js';
import type { LogRow, LogQuery, StoredLogLine } from './logs.types.js';

@Injectable()
export class LogsRepository {
  constructor(@Inject(PrismaService) private readonly db: PrismaService) {}

  /** One INSERT per batch, whatever its size. */
  async insertBatch(rows: readonly LogRow[]): Promise<number> {
    const dev: string[] = [],
      src: string[] = [],
      at: string[] = [],
      stream: string[] = [],
      text: string[] = [];
    for (const l of rows) {
      // Postgres text cannot hold NUL; a device printing one must not lose the batch.
      dev.push(l.deviceId);
      src.push(l.source);
      at.push(l.time);
      stream.push(l.stream);
      text.push(l.text.replace(/\0/g, '\uFFFD'));
    }
    if (dev.length === 0) return 0;
    return this.db.$executeRaw`INSERT INTO logs (device_id, source, at, stream, text)
      SELECT * FROM unnest(${dev}::uuid[], ${src}::text[], ${at}::timestamptz[], ${stream}::text[], ${text}::text[])`;
  }

  /** Newest first; served by (device_id, at) or (device_id, source, at). */
  async query(q: LogQuery): Promise<StoredLogLine[]> {
    const conds: Prisma.Sql[] = [Prisma.sql`device_id = ${q.deviceId}::uuid`];
    if (q.source) conds.push(Prisma.sql`source = ${q.source}`);
    if (q.from) conds.push(Prisma.sql`at >= ${q.from}`);
    if (q.to) conds.push(Prisma.sql`at < ${q.to}`);
    if (q.contains)
      conds.push(Prisma.sql`text ILIKE ${`%${q.contains.replace(/[\\%_]/g, (c) => `\\${c}`)}%`}`);
    if (q.before) conds.push(Prisma.sql`(at, id) < (${q.before.at}, ${q.before.id})`);
    const rows = await this.db.$queryRaw<
      Array<{ id: bigint; device_id: string; source: string; stream: string; at: Date; text: string }>
    >`
      SELECT id, device_id::text, source, stream, at, text FROM logs WHERE ${Prisma.join(conds, ' AND ')}
      ORDER BY at DESC, id DESC LIMIT ${q.limit}`;
    return rows.map((r) => ({
      id: r.id.toString(),
      deviceId: r.device_id,
      source: r.source,
      stream: r.stream,
      at: r.at,
      text: r.text,
    }));
  }

  async deleteBefore(before: Date, lockKey: number): Promise<number | null> {
    return this.db.$transaction(
      async (tx) => {
        const [row] = await tx.$queryRaw<
          Array<{ locked: boolean }>
        >`SELECT pg_try_advisory_xact_lock(${lockKey}::bigint) AS locked`;
        if (!row?.locked) return null;
        return tx.$executeRaw`DELETE FROM logs WHERE at < ${before}`;
      },
      { timeout: 600_000 },
    );
  }
}

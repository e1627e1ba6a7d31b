import { pageOf, Returns } from '../common/openapi.js';
import { Controller, Get, Param, Inject } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import { z } from 'zod';
import { ApiScope } from '../auth/principal.js';
import {
  ZodQuery,
  decodeCursor,
  encodeCursor,
  Uuid,
  ZodPipe,
  type Page,
  type Parsed,
} from '../common/validation.js';
import { LogsService } from './logs.service.js';
import { StoredLogLine } from './logs.types.js';

export const LogsQuery = z.strictObject({
  /** Container name, or `agent`/`system`. */
  source: z.string().min(1).max(64).optional(),
  from: z.iso.datetime({ offset: true }).optional(),
  to: z.iso.datetime({ offset: true }).optional(),
  q: z.string().min(1).max(200).optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(200),
  cursor: z.string().max(200).optional(),
});
export type LogsQuery = z.infer<typeof LogsQuery>;

@ApiTags('logs')
@ApiScope('logs')
@Controller('api/v1/devices/:id/logs')
export class LogsController {
  constructor(@Inject(LogsService) private readonly logs: LogsService) {}

  /** Newest first. Follow live lines through the event stream (`type=device.logs&deviceId=`). */
  @Get()
  @Returns(pageOf(StoredLogLine))
  async query(
    @Param('id', new ZodPipe(Uuid, 'path parameter id')) id: string,
    @ZodQuery(LogsQuery) q: Parsed<LogsQuery>,
  ): Promise<Page<StoredLogLine>> {
    const c = q.cursor
      ? decodeCursor(z.object({ id: z.string().regex(/^\d+$/), at: z.iso.datetime() }), q.cursor)
      : undefined;
    const rows = await this.logs.query({
      deviceId: id,
      source: q.source,
      from: q.from ? new Date(q.from) : undefined,
      to: q.to ? new Date(q.to) : undefined,
      contains: q.q,
      before: c ? { at: new Date(c.at), id: BigInt(c.id) } : undefined,
      limit: q.limit + 1,
    });
    const items = rows.slice(0, q.limit);
    const last = items.at(-1);
    return {
      items,
      nextCursor:
        rows.length > q.limit && last ? encodeCursor({ id: last.id, at: last.at.toISOString() }) : null,
    };
  }
}

import { pageOf, Returns } from '../common/openapi.js';
import { Controller, Get, Inject } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import { z } from 'zod';
import { ApiScope, MinRole } from '../auth/principal.js';
import { ZodQuery, decodeCursor, type Page, type Parsed } from '../common/validation.js';
import { AuditService } from './audit.service.js';
import { AuditEntry } from './audit.types.js';

export const AuditListQuery = z.strictObject({
  actor: z.string().max(200).optional(),
  action: z.string().max(200).optional(),
  targetType: z.string().max(100).optional(),
  targetId: z.string().max(200).optional(),
  limit: z.coerce.number().int().min(1).max(500).default(100),
  cursor: z.string().max(200).optional(),
});
export type AuditListQuery = z.infer<typeof AuditListQuery>;

@ApiTags('audit')
@ApiScope('audit')
@Controller('api/v1/audit')
export class AuditController {
  constructor(@Inject(AuditService) private readonly audit: AuditService) {}

  @Get()
  @MinRole('admin')
  @Returns(pageOf(AuditEntry))
  async list(@ZodQuery(AuditListQuery) q: Parsed<AuditListQuery>): Promise<Page<AuditEntry>> {
    const { cursor, ...rest } = q;
    const beforeId = cursor
      ? BigInt(decodeCursor(z.object({ id: z.string().regex(/^\d+$/) }), cursor).id)
      : undefined;
    return this.audit.list({ ...rest, ...(beforeId !== undefined ? { beforeId } : {}) });
  }
}

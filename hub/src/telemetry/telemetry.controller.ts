import { Returns } from '../common/openapi.js';
import { BadRequestException, Controller, Get, Param, Inject } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import { z } from 'zod';
import { ApiScope } from '../auth/principal.js';
import { ZodQuery, Uuid, ZodPipe, type Parsed } from '../common/validation.js';
import { TelemetryService } from './telemetry.service.js';
import { TelemetryPoint } from './telemetry.types.js';

export const TelemetryQuery = z.strictObject({
  from: z.iso.datetime({ offset: true }).optional(),
  to: z.iso.datetime({ offset: true }).optional(),
  /** Bucket width in seconds; default chosen so the range has about 300 points. */
  bucketSeconds: z.coerce.number().int().min(1).max(86_400).optional(),
});
export type TelemetryQuery = z.infer<typeof TelemetryQuery>;

@ApiTags('telemetry')
@ApiScope('telemetry')
@Controller('api/v1/devices/:id/telemetry')
export class TelemetryController {
  constructor(@Inject(TelemetryService) private readonly telemetry: TelemetryService) {}

  @Get()
  @Returns(z.array(TelemetryPoint))
  query(
    @Param('id', new ZodPipe(Uuid, 'path parameter id')) id: string,
    @ZodQuery(TelemetryQuery) q: Parsed<TelemetryQuery>,
  ): Promise<TelemetryPoint[]> {
    const to = q.to ? new Date(q.to) : new Date();
    const from = q.from ? new Date(q.from) : new Date(to.getTime() - 3_600_000);
    if (from >= to)
      throw new BadRequestException({
        statusCode: 400,
        error: 'Bad Request',
        message: 'from must be before to',
        issues: [{ path: '$.from', message: 'must be before to' }],
      });
    const bucket = q.bucketSeconds ?? Math.max(1, Math.ceil((to.getTime() - from.getTime()) / 1000 / 300));
    return this.telemetry.query(id, from, to, bucket);
  }
}

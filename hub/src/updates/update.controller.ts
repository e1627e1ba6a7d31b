import { pageOf, Returns } from '../common/openapi.js';
import { Controller, Get, Param, Inject } from '@nestjs/common';
import { ApiTags } from '@nestjs/swagger';
import { ApiScope } from '../auth/principal.js';
import { ZodQuery, Uuid, ZodPipe, type Page, type Parsed } from '../common/validation.js';
import { HistoryQuery } from '../devices/device.dto.js';
import { UpdateEvent } from './update.types.js';
import { UpdatesService } from './update.service.js';

@ApiTags('devices')
@ApiScope('devices')
@Controller('api/v1/devices/:id/updates')
export class UpdateController {
  constructor(@Inject(UpdatesService) private readonly updates: UpdatesService) {}

  /** Update history, newest first, with reasons and the failed boot's log. */
  @Get()
  @Returns(pageOf(UpdateEvent))
  list(
    @Param('id', new ZodPipe(Uuid, 'path parameter id')) id: string,
    @ZodQuery(HistoryQuery) q: Parsed<HistoryQuery>,
  ): Promise<Page<UpdateEvent>> {
    return this.updates.list(id, q.limit, q.cursor);
  }
}

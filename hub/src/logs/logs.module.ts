import { Module } from '@nestjs/common';
import { LOG_INGEST } from '../ingest/services-ingest-sink.js';
import { LogsController } from './logs.controller.js';
import { LogsRepository } from './logs.repository.js';
import { LogsService } from './logs.service.js';

@Module({
  controllers: [LogsController],
  providers: [LogsRepository, LogsService, { provide: LOG_INGEST, useExisting: LogsService }],
  exports: [LogsService, LOG_INGEST],
})
export class LogsModule {}

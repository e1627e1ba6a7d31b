import { Module } from '@nestjs/common';
import { TelemetryController } from './telemetry.controller.js';
import { TelemetryRepository } from './telemetry.repository.js';
import { TelemetryService } from './telemetry.service.js';

@Module({
  controllers: [TelemetryController],
  providers: [TelemetryRepository, TelemetryService],
  exports: [TelemetryService],
})
export class TelemetryModule {}

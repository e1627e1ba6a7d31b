import { Module } from '@nestjs/common';
import { UpdateController } from './update.controller.js';
import { UpdateRepository } from './update.repository.js';
import { UpdatesService } from './update.service.js';

@Module({
  controllers: [UpdateController],
  providers: [UpdateRepository, UpdatesService],
  exports: [UpdatesService],
})
export class UpdatesModule {}

import { Module } from '@nestjs/common';
import { ObjectsModule } from '../objects/objects.module.js';
import { KeyController, ReleaseController } from './release.controller.js';
import { ReleaseRepository } from './release.repository.js';
import { ReleasesService } from './release.service.js';

@Module({
  imports: [ObjectsModule],
  controllers: [ReleaseController, KeyController],
  providers: [ReleaseRepository, ReleasesService],
  exports: [ReleasesService],
})
export class ReleasesModule {}

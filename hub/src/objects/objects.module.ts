import { Module } from '@nestjs/common';
import { resolve } from 'node:path';
import { HUB_CONFIG, objectDirOf, type HubConfig } from '../config/hub-config.js';
import { FsObjectStore, OBJECT_STORE } from './object-store.js';
import { ObjectController } from './object.controller.js';
import { ObjectRepository } from './object.repository.js';
import { ObjectsService } from './object.service.js';

@Module({
  controllers: [ObjectController],
  providers: [
    ObjectRepository,
    ObjectsService,
    {
      provide: OBJECT_STORE,
      inject: [HUB_CONFIG],
      useFactory: (c: HubConfig) => new FsObjectStore(resolve(objectDirOf(c))),
    },
  ],
  exports: [ObjectsService],
})
export class ObjectsModule {}

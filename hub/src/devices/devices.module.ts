import { Module } from '@nestjs/common';
import { DeviceController } from './device.controller.js';
import { DeviceRepository } from './device.repository.js';
import { DevicesService } from './device.service.js';

@Module({
  controllers: [DeviceController],
  providers: [DeviceRepository, DevicesService],
  exports: [DevicesService, DeviceRepository],
})
export class DevicesModule {}

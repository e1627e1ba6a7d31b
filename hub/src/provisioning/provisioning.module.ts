import { Module } from '@nestjs/common';
import { ProvisioningController } from './provisioning.controller.js';
import { ProvisioningRepository } from './provisioning.repository.js';
import { ProvisioningService } from './provisioning.service.js';

@Module({ controllers: [ProvisioningController], providers: [ProvisioningRepository, ProvisioningService] })
export class ProvisioningModule {}

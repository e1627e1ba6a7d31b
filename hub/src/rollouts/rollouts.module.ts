import { Module } from '@nestjs/common';
import { ConfigVarController } from '../config-vars/config-var.controller.js';
import { ConfigVarRepository } from '../config-vars/config-var.repository.js';
import { ConfigVarsService } from '../config-vars/config-var.service.js';
import { DeviceTargetRepository } from './device-target.repository.js';
import { DeviceTargetService } from './device-target.service.js';
import { RolloutController } from './rollout.controller.js';
import { RolloutEngine } from './rollout.engine.js';
import { RolloutRepository } from './rollout.repository.js';
import { RolloutService } from './rollout.service.js';

/**
 * Rollouts, device targets, configuration variables and maintenance windows: everything that
 * decides what a device's retained target says. Needs DevicePublisher from the MQTT module and
 * the core services (fleets, releases, devices, audit, events), all global.
 */
@Module({
  controllers: [RolloutController, ConfigVarController],
  providers: [
    RolloutRepository,
    RolloutEngine,
    RolloutService,
    DeviceTargetRepository,
    DeviceTargetService,
    ConfigVarRepository,
    ConfigVarsService,
  ],
  exports: [RolloutService, RolloutEngine, ConfigVarsService],
})
export class RolloutsModule {}

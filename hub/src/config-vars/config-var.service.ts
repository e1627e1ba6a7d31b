import { Inject, Injectable, NotFoundException } from '@nestjs/common';
import type { MaintenanceWindow } from '@fleet/protocol';
import { AuditService } from '../audit/audit.service.js';
import type { Actor } from '../auth/principal.js';
import { DevicesService } from '../devices/device.service.js';
import { EventBus } from '../events/event-bus.js';
import { FleetService } from '../fleets/fleet.service.js';
import { DeviceTargetService } from '../rollouts/device-target.service.js';
import { RolloutRepository } from '../rollouts/rollout.repository.js';
import { ConfigVarRepository } from './config-var.repository.js';
import type { ConfigScopeType, ConfigVariableList, EffectiveConfig } from './config-var.types.js';

/**
 * Configuration without a release: fleet and device variables per container, versioned (each
 * change bumps its scope's counter) and audited (old and new value), delivered to devices by
 * re-sending their target with the new `config` and `configVersion`. Maintenance windows per
 * fleet travel the same way as the target's `window`.
 */
@Injectable()
export class ConfigVarsService {
  constructor(
    @Inject(ConfigVarRepository) private readonly repo: ConfigVarRepository,
    @Inject(FleetService) private readonly fleets: FleetService,
    @Inject(DevicesService) private readonly devices: DevicesService,
    @Inject(DeviceTargetService) private readonly targets: DeviceTargetService,
    @Inject(RolloutRepository) private readonly rollouts: RolloutRepository,
    @Inject(AuditService) private readonly audit: AuditService,
    @Inject(EventBus) private readonly events: EventBus,
  ) {}

  private async scopeId(
    scopeType: ConfigScopeType,
    idOrName: string,
  ): Promise<{ id: string; fleetId: string }> {
    if (scopeType === 'fleet') {
      const f = await this.fleets.get(idOrName);
      return { id: f.id, fleetId: f.id };
    }
    const d = await this.devices.get(idOrName);
    if (d.decommissionedAt) throw new NotFoundException(`device ${idOrName} is decommissioned`);
    return { id: d.id, fleetId: d.fleetId };
  }

  async list(scopeType: ConfigScopeType, idOrName: string): Promise<ConfigVariableList> {
    const { id } = await this.scopeId(scopeType, idOrName);
    const [variables, version] = await Promise.all([
      this.repo.list(scopeType, id),
      this.repo.version(scopeType, id),
    ]);
    return { scopeType, scopeId: id, version, variables };
  }

  async effective(deviceIdOrName: string): Promise<EffectiveConfig> {
    const { id, fleetId } = await this.scopeId('device', deviceIdOrName);
    const { config, version } = await this.repo.effective(id, fleetId);
    return { deviceId: id, config, configVersion: version };
  }

  /** Sets (value) or removes (null) a variable; devices get it at once. */
  async change(
    scopeType: ConfigScopeType,
    idOrName: string,
    container: string,
    name: string,
    value: string | null,
    actor: Actor,
  ): Promise<ConfigVariableList & { delivered: number; waiting: number }> {
    const { id, fleetId } = await this.scopeId(scopeType, idOrName);
    const result = await this.repo.change(scopeType, id, container, name, value, actor.id);
    let delivered = 0;
    let waiting = 0;
    // The same value again (or removing a missing one) changes nothing: not audited, not sent.
    if (result) {
      await this.audit.record(
        actor,
        value === null ? 'config.unset' : 'config.set',
        { type: scopeType, id },
        {
          container,
          name,
          // Values may be secrets to someone: the audit says that it changed, and to what length.
          previousLength: result.previous?.length ?? null,
          length: value?.length ?? null,
          version: result.version,
        },
      );
      const r = await this.deliver(scopeType, id);
      delivered = r.sent;
      waiting = r.skipped;
      this.events.publish({
        type: 'fleet.changed',
        scope: 'fleets',
        minRole: 'viewer',
        fleetId,
        ...(scopeType === 'device' ? { deviceId: id } : {}),
        data: { action: 'config', container, name, version: result.version },
      });
    }
    return { ...(await this.list(scopeType, id)), delivered, waiting };
  }

  async window(fleetIdOrName: string): Promise<{ fleetId: string; window: MaintenanceWindow | null }> {
    const f = await this.fleets.get(fleetIdOrName);
    return { fleetId: f.id, window: await this.repo.window(f.id) };
  }

  async setWindow(
    fleetIdOrName: string,
    window: MaintenanceWindow | null,
    actor: Actor,
  ): Promise<{ fleetId: string; window: MaintenanceWindow | null; delivered: number }> {
    const f = await this.fleets.get(fleetIdOrName);
    const previous = await this.repo.setWindow(f.id, window);
    await this.audit.record(
      actor,
      window ? 'fleet.window.set' : 'fleet.window.clear',
      { type: 'fleet', id: f.id },
      { from: previous, to: window },
    );
    const { sent } = await this.deliver('fleet', f.id);
    return { fleetId: f.id, window, delivered: sent };
  }

  private async deliver(scopeType: ConfigScopeType, id: string): Promise<{ sent: number; skipped: number }> {
    const ids = await this.repo.devicesOf(scopeType, id);
    return this.targets.republish(ids, (deviceId, oldId, newId) =>
      this.rollouts.renameUpdate(deviceId, oldId, newId),
    );
  }
}

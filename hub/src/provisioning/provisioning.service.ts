import {
  ConflictException,
  ForbiddenException,
  Inject,
  Injectable,
  Logger,
  Optional,
  ServiceUnavailableException,
  UnauthorizedException,
} from '@nestjs/common';
import type { ProvisionRequest, ProvisionResponse } from '@fleet/protocol';
import { AuditService } from '../audit/audit.service.js';
import { newSecret, sha256Hex } from '../common/sha256.js';
import { HUB_CONFIG, type HubConfig } from '../config/hub-config.js';
import {
  BROKER_AUTHORITY,
  BROKER_DEVICE_URL,
  brokerUsernameFor,
  type BrokerAuthority,
} from '../devices/broker-authority.js';
import { EventBus } from '../events/event-bus.js';
import { MetricsRegistry, type Counter } from '../metrics/metrics.registry.js';
import { DEVICE_CERTIFICATE_ISSUER, type DeviceCertificateIssuer } from './device-certificate-issuer.js';
import { ProvisioningRepository } from './provisioning.repository.js';

/** The broker URL handed to devices: HUB_MQTT_PUBLIC_URL, else MQTT_URL, else the hub's host on 1883. */
export function deviceMqttUrl(config: HubConfig): string {
  if (config.mqttPublicUrl) return config.mqttPublicUrl;
  if (config.mqttUrl) return config.mqttUrl;
  return `mqtt://${new URL(config.publicUrl).hostname}:1883`;
}

@Injectable()
export class ProvisioningService {
  private readonly log = new Logger('ProvisioningService');
  private readonly outcomes: Counter;

  constructor(
    @Inject(ProvisioningRepository) private readonly repo: ProvisioningRepository,
    @Inject(AuditService) private readonly audit: AuditService,
    @Inject(EventBus) private readonly events: EventBus,
    @Inject(BROKER_AUTHORITY) private readonly broker: BrokerAuthority,
    @Inject(HUB_CONFIG) private readonly config: HubConfig,
    @Inject(MetricsRegistry) metrics: MetricsRegistry,
    @Optional() @Inject(BROKER_DEVICE_URL) private readonly brokerDeviceUrl?: string,
    @Optional()
    @Inject(DEVICE_CERTIFICATE_ISSUER)
    private readonly certificates?: DeviceCertificateIssuer | null,
  ) {
    this.outcomes = metrics.counter('fleet_hub_provisioning_total', 'Provisioning requests by outcome.');
  }

  async provision(req: ProvisionRequest, now = new Date()): Promise<ProvisionResponse> {
    const password = newSecret();
    const outcome = await this.repo.claim({
      tokenHash: sha256Hex(req.claimToken),
      hardwareId: req.hardwareId,
      publicKey: req.publicKey,
      board: req.board,
      agentVersion: req.agentVersion,
      name: req.name ?? req.hardwareId,
      credentialsHash: sha256Hex(password),
      now,
    });
    this.outcomes.inc({ outcome: outcome.kind });
    switch (outcome.kind) {
      case 'token-invalid':
        throw new UnauthorizedException('unknown claim token');
      case 'token-expired':
        throw new UnauthorizedException('claim token expired: ask an operator for a new one');
      case 'token-revoked':
        throw new UnauthorizedException('claim token revoked');
      case 'token-used-up':
        throw new ForbiddenException('claim token has no uses left');
      case 'key-mismatch':
        throw new ConflictException(
          `hardware id ${req.hardwareId} is registered with another public key; decommission device ${outcome.deviceId} first`,
        );
      case 'created':
      case 'existing':
        break;
    }
    const { deviceId, fleetId } = outcome;
    const username = brokerUsernameFor(deviceId);
    let certificate: { certificate: string; caCertificate: string } | undefined;
    try {
      await this.broker.upsertDevice(deviceId, username, password);
      // Certificate identity: a new certificate for the device's key on every (re-)provisioning;
      // older ones are revoked at once (rotation), decommission revokes the last one.
      if (this.certificates) certificate = await this.certificates.issue(deviceId, req.publicKey);
    } catch (error) {
      // The device keeps its key and retries; re-provisioning with the same key is idempotent.
      this.log.error(`broker refused device ${deviceId}: ${(error as Error).message}`);
      throw new ServiceUnavailableException('the broker is not reachable; retry provisioning');
    }
    const actor = { id: `device:${deviceId}`, email: null };
    await this.audit.record(
      actor,
      outcome.kind === 'created' ? 'device.provision' : 'device.reprovision',
      { type: 'device', id: deviceId },
      {
        fleetId,
        hardwareId: req.hardwareId,
        board: req.board,
        agentVersion: req.agentVersion,
      },
    );
    this.events.publish({
      type: outcome.kind === 'created' ? 'device.created' : 'device.updated',
      scope: 'devices',
      minRole: 'viewer',
      deviceId,
      fleetId,
      data: { hardwareId: req.hardwareId },
    });
    return {
      deviceId,
      fleetId,
      mqtt: {
        url: this.brokerDeviceUrl ?? deviceMqttUrl(this.config),
        username,
        password,
        clientId: deviceId,
        ...(certificate !== undefined
          ? {
              certificate: certificate.certificate,
              caCertificate: certificate.caCertificate,
              protocolVersion: 5 as const,
            }
          : {}),
      },
      objectBaseUrl: `${this.config.publicUrl.replace(/\/+$/, '')}/api/v1/objects`,
    };
  }
}

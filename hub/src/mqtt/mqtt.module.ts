import { Global, Logger, Module, type DynamicModule, type OnApplicationShutdown } from '@nestjs/common';
import { BROKER_AUTHORITY } from '../devices/broker-authority.js';
import { COMMAND_PUBLISHER } from '../devices/command-publisher.js';
import { DEVICE_CERTIFICATE_ISSUER } from '../provisioning/device-certificate-issuer.js';
import { BrokerConnection } from './broker-connection.js';
import { DevicePublisher } from './device-publisher.js';
import type { MqttSettings } from './mqtt-settings.js';

/** Closes the broker connection after everything else has shut down (ingest first). */
class BrokerConnectionCloser implements OnApplicationShutdown {
  constructor(private readonly connection: BrokerConnection) {}
  async onApplicationShutdown(): Promise<void> {
    await this.connection.close();
  }
}

/**
 * The hub's broker: connects (or starts the embedded one) before the app is ready and provides
 * BROKER_AUTHORITY and COMMAND_PUBLISHER to the devices module, DevicePublisher (retained
 * targets) to the rollout engine, and BrokerConnection to ingest. Global: imported once by the
 * AppModule.
 *
 * Ingest is a separate module (`IngestModule.forRoot()`, mounted after the core modules whose
 * services it calls): without it this is the broker alone (provisioning tests, tools).
 */
@Global()
@Module({})
export class MqttModule {
  static forRoot(settings: MqttSettings): DynamicModule {
    return {
      module: MqttModule,
      providers: [
        { provide: BrokerConnection, useFactory: () => BrokerConnection.open(settings, new Logger('Mqtt')) },
        {
          provide: BROKER_AUTHORITY,
          useFactory: (c: BrokerConnection) => c.authority,
          inject: [BrokerConnection],
        },
        {
          provide: COMMAND_PUBLISHER,
          useFactory: (c: BrokerConnection) => c.publisher,
          inject: [BrokerConnection],
        },
        {
          provide: DevicePublisher,
          useFactory: (c: BrokerConnection) => c.publisher,
          inject: [BrokerConnection],
        },
        // null in password mode: provisioning then hands out broker passwords only.
        {
          provide: DEVICE_CERTIFICATE_ISSUER,
          useFactory: (c: BrokerConnection) => c.certificateIssuer ?? null,
          inject: [BrokerConnection],
        },
        {
          provide: BrokerConnectionCloser,
          useFactory: (c: BrokerConnection) => new BrokerConnectionCloser(c),
          inject: [BrokerConnection],
        },
      ],
      exports: [
        BrokerConnection,
        BROKER_AUTHORITY,
        COMMAND_PUBLISHER,
        DevicePublisher,
        DEVICE_CERTIFICATE_ISSUER,
      ],
    };
  }
}

import { Global, Logger, Module, type DynamicModule, type OnApplicationShutdown } from '@nestjs/common';
import { BROKER_AUTHORITY } from '../devices/broker-authority.js';
import { COMMAND_PUBLISHER } from '../devices/command-publisher.js';
import { DEVICE_CERTIFICATE_ISSUER } from '../provisioning/device-certificate-issuer.js';
import { BrokerConnection } from './broker-connection.js';
import { DevicePublisher } from './device-publisher.js';
import type { HubMqttClient } from './hub-mqtt-client.js';
import type { MqttSettings } from './mqtt-settings.js';

/**
 * The session the hub publishes targets and commands on, apart from the one ingest reads: ingest
 * holds incoming packets for backpressure, and mqtt.js reads a session's packets in order, so
 * on a shared session every PUBACK waited behind the device messages received before it.
 */
class DispatchSession {
  constructor(readonly session: HubMqttClient) {}
}

/** Closes the broker sessions after everything else has shut down (ingest first). */
class BrokerConnectionCloser implements OnApplicationShutdown {
  constructor(
    private readonly connection: BrokerConnection,
    private readonly dispatch: DispatchSession,
  ) {}
  async onApplicationShutdown(): Promise<void> {
    // Unacknowledged targets are flushed before the broker (embedded) goes away.
    await this.dispatch.session.close();
    await this.connection.close();
  }
}

/**
 * The hub's broker: connects (or starts the embedded one) before the app is ready and provides
 * BROKER_AUTHORITY and COMMAND_PUBLISHER to the devices module, DevicePublisher (retained
 * targets) to the rollout engine, and BrokerConnection to ingest. Targets and commands go out
 * on a second session of the hub's identity (DispatchSession), ingest reads the first. Global: imported once by the
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
          provide: DispatchSession,
          useFactory: async (c: BrokerConnection) =>
            new DispatchSession(await c.session.openSibling('dispatch')),
          inject: [BrokerConnection],
        },
        {
          provide: DevicePublisher,
          useFactory: (d: DispatchSession) => new DevicePublisher(d.session),
          inject: [DispatchSession],
        },
        { provide: COMMAND_PUBLISHER, useExisting: DevicePublisher },
        // null in password mode: provisioning then hands out broker passwords only.
        {
          provide: DEVICE_CERTIFICATE_ISSUER,
          useFactory: (c: BrokerConnection) => c.certificateIssuer ?? null,
          inject: [BrokerConnection],
        },
        {
          provide: BrokerConnectionCloser,
          useFactory: (c: BrokerConnection, d: DispatchSession) => new BrokerConnectionCloser(c, d),
          inject: [BrokerConnection, DispatchSession],
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

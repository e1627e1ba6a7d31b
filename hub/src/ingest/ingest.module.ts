import {
  Inject,
  Injectable,
  Logger,
  Module,
  type DynamicModule,
  type ModuleMetadata,
  type OnApplicationBootstrap,
  type OnModuleDestroy,
} from '@nestjs/common';
import { DevicesService } from '../devices/device.service.js';
import { MetricsRegistry } from '../metrics/metrics.registry.js';
import { BrokerConnection } from '../mqtt/broker-connection.js';
import { TelemetryService } from '../telemetry/telemetry.service.js';
import { UpdatesService } from '../updates/update.service.js';
import { IngestMetrics } from './ingest-metrics.js';
import { INGEST_SINK, type IngestSink } from './ingest-sink.js';
import { IngestService } from './ingest.service.js';
import { LOG_INGEST, ServicesIngestSink, type LogIngestPort } from './services-ingest-sink.js';

/** Subscribes once the whole app (database included) is up; stops before the broker closes. */
@Injectable()
export class IngestLifecycle implements OnApplicationBootstrap, OnModuleDestroy {
  constructor(
    @Inject(IngestService) private readonly ingest: IngestService,
    @Inject(BrokerConnection) private readonly connection: BrokerConnection,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    await this.ingest.attach(this.connection.session, { shared: this.connection.sharedSubscriptions });
  }

  async onModuleDestroy(): Promise<void> {
    await this.ingest.close();
  }
}

/**
 * Device → hub MQTT ingest. DevicesService, UpdatesService, TelemetryService and LOG_INGEST
 * must be visible: exported by a global module (the AppModule does) or through `imports`.
 * BrokerConnection comes from the global MqttModule.
 */
@Module({})
export class IngestModule {
  static forRoot(options: { imports?: NonNullable<ModuleMetadata['imports']> } = {}): DynamicModule {
    return {
      module: IngestModule,
      imports: options.imports ?? [],
      providers: [
        {
          provide: IngestMetrics,
          useFactory: (registry: MetricsRegistry) => new IngestMetrics(registry),
          inject: [MetricsRegistry],
        },
        {
          provide: INGEST_SINK,
          useFactory: (
            devices: DevicesService,
            updates: UpdatesService,
            telemetry: TelemetryService,
            logs: LogIngestPort,
          ) => new ServicesIngestSink(devices, updates, telemetry, logs),
          inject: [DevicesService, UpdatesService, TelemetryService, LOG_INGEST],
        },
        {
          provide: IngestService,
          useFactory: (sink: IngestSink, metrics: IngestMetrics) =>
            new IngestService(sink, metrics, new Logger('Ingest')),
          inject: [INGEST_SINK, IngestMetrics],
        },
        IngestLifecycle,
      ],
      exports: [IngestService],
    };
  }
}

import { type DynamicModule, Module, type Provider } from '@nestjs/common';
import { AuditModule } from './audit/audit.module.js';
import { AuthModule } from './auth/auth.module.js';
import { HUB_CONFIG, type HubConfig } from './config/hub-config.js';
import { DatabaseModule } from './database/database.module.js';
import { DevicesModule } from './devices/devices.module.js';
import { EventsModule } from './events/events.module.js';
import { FleetsModule } from './fleets/fleets.module.js';
import { HealthModule } from './health/health.module.js';
import { LogsModule } from './logs/logs.module.js';
import { MetricsModule } from './metrics/metrics.module.js';
import { ObjectsModule } from './objects/objects.module.js';
import { ProvisioningModule } from './provisioning/provisioning.module.js';
import { ReleasesModule } from './releases/releases.module.js';
import { RolloutsModule } from './rollouts/rollouts.module.js';
import { TelemetryModule } from './telemetry/telemetry.module.js';
import { UpdatesModule } from './updates/updates.module.js';
import { WebModule } from './web/web.module.js';

export interface AppModuleOptions {
  config: HubConfig;
  /**
   * The broker side: a module that provides (and exports, globally) BROKER_AUTHORITY and
   * COMMAND_PUBLISHER, and may run ingest. Production passes hub/src/mqtt's module; it is
   * imported after the core modules so it can inject DevicesService, TelemetryService, ...
   */
  broker: DynamicModule | NonNullable<DynamicModule['imports']>[number];
  /** More modules to mount (e.g. rollouts), in order. */
  extraModules?: NonNullable<DynamicModule['imports']>;
}

/** Modules whose services the ingest side calls; re-exported so a broker module can import AppCoreModule. */
const CORE = [
  DevicesModule,
  TelemetryModule,
  LogsModule,
  UpdatesModule,
  FleetsModule,
  ObjectsModule,
  ReleasesModule,
];

@Module({})
export class AppModule {
  static forRoot(options: AppModuleOptions): DynamicModule {
    const configProvider: Provider = { provide: HUB_CONFIG, useValue: options.config };
    return {
      module: AppModule,
      global: true,
      imports: [
        DatabaseModule,
        MetricsModule,
        EventsModule,
        AuditModule,
        AuthModule,
        HealthModule,
        ...CORE,
        ProvisioningModule,
        options.broker,
        RolloutsModule,
        ...(options.extraModules ?? []),
        // Last: its catch-all route must not shadow any API route.
        WebModule.forRoot(options.config.webDir),
      ],
      providers: [configProvider],
      exports: [configProvider, ...CORE],
    };
  }
}

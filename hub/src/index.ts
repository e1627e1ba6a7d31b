export { createApp, openApiDocument, type CreateAppOptions } from './app.js';
export { AppModule, type AppModuleOptions } from './app.module.js';
export { HubConfig, configFromEnv, HUB_CONFIG } from './config/hub-config.js';
export { BROKER_AUTHORITY, brokerUsernameFor, type BrokerAuthority } from './devices/broker-authority.js';
export { COMMAND_PUBLISHER, type CommandPublisher } from './devices/command-publisher.js';
export { runMigrations } from './database/migration-runner.js';

// Wire types of the REST API (dates are ISO strings on the wire), for hubctl and web.
export type { User, ApiTokenInfo } from './auth/auth.types.js';
export type { Role, Scope, UserPrincipal } from './auth/principal.js';
export type { AuditEntry } from './audit/audit.types.js';
export type { Fleet, ClaimToken } from './fleets/fleet.types.js';
export type {
  Device,
  DeviceDetail,
  DeviceContainer,
  ContainerEvent,
  DeviceCommand,
  DeviceSummary,
  DeviceStatusFilter,
  DeviceSort,
  CommandStatus,
} from './devices/device.types.js';
export type { Release, ReleaseSummary, SigningKeyRecord } from './releases/release.types.js';
export type { UpdateEvent } from './updates/update.types.js';
export type { TelemetryPoint } from './telemetry/telemetry.types.js';
export type { StoredLogLine } from './logs/logs.types.js';
export type { HubEvent, HubEventType } from './events/event-bus.js';
export type { Page, FieldError, ValidationErrorBody } from './common/validation.js';

/** A domain type as it arrives over HTTP: Date fields become ISO strings. */
export type Json<T> = T extends Date
  ? string
  : T extends Array<infer U>
    ? Array<Json<U>>
    : T extends object
      ? { [K in keyof T]: Json<T[K]> }
      : T;

export { createApp, openApiDocument, type CreateAppOptions } from './app.js';
export { AppModule, type AppModuleOptions } from './app.module.js';
export { HubConfig, configFromEnv, HUB_CONFIG } from './config/hub-config.js';
export { BROKER_AUTHORITY, brokerUsernameFor, type BrokerAuthority } from './devices/broker-authority.js';
export { COMMAND_PUBLISHER, type CommandPublisher } from './devices/command-publisher.js';
export { runMigrations } from './database/migration-runner.js';

// The agent's link to the hub: config, provisioning, MQTT session, offline queue, telemetry,
// log shipping and the object downloader. `mqtt` is imported only below this folder.
export * from './agent-link.js';
export * from './backoff.js';
export * from './config.js';
export * from './downloader.js';
export * from './identity.js';
export * from './log-shipper.js';
export * from './logger.js';
export * from './offline-queue.js';
export * from './provisioning.js';
export * from './queue-codec.js';
export * from './session.js';
export * from './telemetry.js';
export * from './telemetry-batcher.js';

// @fleet/protocol: every wire and on-disk format shared by agent, hub, hubctl and web.
export * from './result.js';
export * from './size.js';
export * from './digest.js';
export * from './enums.js';
export * from './manifest.js';
export * from './canonical-json.js';
export * from './signing.js';
export * from './provisioning.js';
export * from './board.js';
export * from './mqtt/topics.js';
export * from './mqtt/messages.js';
export * from './api/index.js';

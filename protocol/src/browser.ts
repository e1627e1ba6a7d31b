// The part of @fleet/protocol a browser can load: schemas, enums, topic builders and the hub's
// REST API shapes (api/), with no Node built-ins (signing, canonical-JSON hashing and MQTT
// payload encoding stay Node-only).
export * from './result.js';
export * from './size.js';
export * from './digest.js';
export * from './enums.js';
export * from './manifest.js';
export * from './board.js';
export * from './mqtt/topics.js';
export * from './api/index.js';

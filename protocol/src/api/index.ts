// The hub's REST API (`/api/v1`) as its clients (hubctl, the dashboard) read and write it.
// Browser-safe: no Node built-ins anywhere below.
export * from './common.js';
export * from './auth.js';
export * from './fleets.js';
export * from './devices.js';
export * from './releases.js';
export * from './rollouts.js';
export * from './config.js';
export * from './events.js';

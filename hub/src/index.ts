export { createApp } from './app.js';
export { HubConfig, configFromEnv } from './config/hub-config.js';

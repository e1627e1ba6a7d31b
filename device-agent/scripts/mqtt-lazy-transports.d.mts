import type { Plugin } from 'esbuild';

/** The device bundle's esbuild plugin that makes mqtt.js require its transports on use. */
export declare const mqttLazyTransports: Plugin;

import type { Plugin } from 'esbuild';

/** The device bundle's esbuild plugin that makes mqtt.js require its transports on use. */
export declare const mqttLazyTransports: Plugin;

/** Makes lru-cache (mqtt's dependency) choose its clock on first use instead of at load. */
export declare const lruCacheLazyClock: Plugin;

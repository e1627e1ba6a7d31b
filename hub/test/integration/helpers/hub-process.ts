import type { MosquittoInstance } from './mosquitto.js';

/** What a hub run as its own process (src/main.ts or dist/main.js) is told, as operators set it. */
export interface HubProcessSettings {
  databaseUrl: string;
  broker: Pick<MosquittoInstance, 'url' | 'admin'>;
  /** The hub's own broker login, which it creates through dynsec at start. */
  hubPassword: string;
  port: number;
  dataDir: string;
  adminEmail: string;
  adminPassword: string;
  logLevel: string;
}

/**
 * The environment for a hub process: this process's, without a DATABASE_URL or MQTT_URL of its
 * own (the hub would otherwise start on the caller's), plus the hub's settings.
 */
export function hubProcessEnv(s: HubProcessSettings): NodeJS.ProcessEnv {
  const { DATABASE_URL: _d, MQTT_URL: _m, ...rest } = process.env;
  return {
    ...rest,
    DATABASE_URL: s.databaseUrl,
    MQTT_URL: s.broker.url,
    MQTT_ADMIN_USERNAME: s.broker.admin.username,
    MQTT_ADMIN_PASSWORD: s.broker.admin.password,
    MQTT_HUB_PASSWORD: s.hubPassword,
    HUB_PORT: String(s.port),
    HUB_HOST: '127.0.0.1',
    HUB_PUBLIC_URL: `http://127.0.0.1:${s.port}`,
    HUB_DATA_DIR: s.dataDir,
    HUB_ADMIN_EMAIL: s.adminEmail,
    HUB_ADMIN_PASSWORD: s.adminPassword,
    HUB_LOG_LEVEL: s.logLevel,
  };
}

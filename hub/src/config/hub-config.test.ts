import { describe, expect, it } from 'vitest';
import { configFromEnv, objectDirOf } from './hub-config.js';

describe('configFromEnv', () => {
  it('applies defaults and reads the environment', () => {
    const c = configFromEnv({
      HUB_PORT: '9000',
      DATABASE_URL: 'postgresql://u@h/db',
      HUB_DATA_DIR: '/var/lib/fleet',
    });
    expect(c).toMatchObject({
      port: 9000,
      databaseUrl: 'postgresql://u@h/db',
      dataDir: '/var/lib/fleet',
      logLevel: 'log',
    });
    expect(c.mqttUrl).toBeUndefined();
    expect(objectDirOf(c)).toBe('/var/lib/fleet/objects');
    expect(objectDirOf(configFromEnv({ OBJECT_DIR: '/srv/objects' }))).toBe('/srv/objects');
  });

  it('names every bad variable', () => {
    expect(() =>
      configFromEnv({ HUB_PORT: 'eighty', HUB_PUBLIC_URL: 'not a url', HUB_ADMIN_PASSWORD: 'short' }),
    ).toThrow(/HUB_PORT:[\s\S]*HUB_PUBLIC_URL:[\s\S]*HUB_ADMIN_PASSWORD:/);
  });
});

import { describe, expect, test } from 'vitest';
import { mqttSettingsFromEnv } from './mqtt-settings.js';

describe('mqttSettingsFromEnv', () => {
  test('without MQTT_URL the hub runs the embedded broker, its credential file in the data dir', () => {
    expect(mqttSettingsFromEnv({}, { dataDir: '/var/lib/hub' })).toEqual({
      mode: 'embedded',
      host: '0.0.0.0',
      port: 1884,
      credentialFile: '/var/lib/hub/broker-credentials.json',
    });
    expect(
      mqttSettingsFromEnv(
        { MQTT_EMBEDDED_PORT: '0', MQTT_EMBEDDED_HOST: '127.0.0.1' },
        { dataDir: 'd', mqttPublicUrl: 'mqtt://10.0.2.2:1884' },
      ),
    ).toMatchObject({
      port: 0,
      host: '127.0.0.1',
      publicUrl: 'mqtt://10.0.2.2:1884',
    });
  });

  test('with MQTT_URL the dynsec admin and the hub password are required, each missing one named', () => {
    expect(() => mqttSettingsFromEnv({}, { dataDir: 'd', mqttUrl: 'mqtt://broker:1883' })).toThrow(
      /MQTT_ADMIN_USERNAME[\s\S]*MQTT_ADMIN_PASSWORD[\s\S]*MQTT_HUB_PASSWORD/,
    );
    expect(
      mqttSettingsFromEnv(
        {
          MQTT_ADMIN_USERNAME: 'admin',
          MQTT_ADMIN_PASSWORD: 'pw',
          MQTT_HUB_PASSWORD: 'long-enough',
          MQTT_CLIENT_ID: 'hub-0',
          MQTT_SESSION_EXPIRY_SECONDS: '600',
        },
        { dataDir: 'd', mqttUrl: 'mqtt://broker:1883' },
      ),
    ).toEqual({
      mode: 'mosquitto',
      url: 'mqtt://broker:1883',
      adminUsername: 'admin',
      adminPassword: 'pw',
      hubUsername: 'fleet-hub',
      hubPassword: 'long-enough',
      clientId: 'hub-0',
      sessionExpirySeconds: 600,
    });
  });

  test.each([
    [{ MQTT_EMBEDDED_PORT: 'x' }, /MQTT_EMBEDDED_PORT/],
    [{ MQTT_EMBEDDED_PORT: '70000' }, /MQTT_EMBEDDED_PORT/],
  ])('refuses %j', (env, message) => {
    expect(() => mqttSettingsFromEnv(env, { dataDir: 'd' })).toThrow(message);
  });

  test('a short hub password is refused', () => {
    expect(() =>
      mqttSettingsFromEnv(
        { MQTT_ADMIN_USERNAME: 'a', MQTT_ADMIN_PASSWORD: 'b', MQTT_HUB_PASSWORD: 'short' },
        { dataDir: 'd', mqttUrl: 'mqtt://b:1' },
      ),
    ).toThrow(/MQTT_HUB_PASSWORD/);
  });

  describe('HUB_DEVICE_IDENTITY=certificate', () => {
    const base = {
      MQTT_ADMIN_USERNAME: 'admin',
      MQTT_ADMIN_PASSWORD: 'pw',
      MQTT_HUB_PASSWORD: 'long-enough',
      HUB_DEVICE_IDENTITY: 'certificate',
    };
    test('reads the TLS URL, the CRL file and the pid file; the PKI lives in the data dir by default', () => {
      expect(
        mqttSettingsFromEnv(
          {
            ...base,
            HUB_MQTT_DEVICE_TLS_URL: 'mqtts://broker:8883',
            HUB_CRL_FILE: '/etc/mosquitto/crl.pem',
            HUB_BROKER_PID_FILE: '/run/mosquitto.pid',
          },
          { dataDir: '/var/lib/hub', mqttUrl: 'mqtt://broker:1883' },
        ),
      ).toMatchObject({
        certificate: {
          deviceUrl: 'mqtts://broker:8883',
          pkiDir: '/var/lib/hub/pki',
          crlFile: '/etc/mosquitto/crl.pem',
          brokerPidFile: '/run/mosquitto.pid',
          certDays: 3650,
        },
      });
    });
    test('names each missing or bad variable', () => {
      expect(() => mqttSettingsFromEnv(base, { dataDir: 'd', mqttUrl: 'mqtt://b:1' })).toThrow(
        /HUB_MQTT_DEVICE_TLS_URL[\s\S]*HUB_CRL_FILE/,
      );
      expect(() =>
        mqttSettingsFromEnv(
          { ...base, HUB_MQTT_DEVICE_TLS_URL: 'mqtt://b:1883', HUB_CRL_FILE: 'c' },
          { dataDir: 'd', mqttUrl: 'mqtt://b:1' },
        ),
      ).toThrow(/HUB_MQTT_DEVICE_TLS_URL: must be an mqtts/);
      expect(() =>
        mqttSettingsFromEnv(
          { ...base, HUB_DEVICE_IDENTITY: 'x509' },
          { dataDir: 'd', mqttUrl: 'mqtt://b:1' },
        ),
      ).toThrow(/HUB_DEVICE_IDENTITY must be password or certificate/);
    });
    test('on the embedded broker: a TLS listener on 8884, the CRL in the PKI dir, no Mosquitto variables', () => {
      expect(
        mqttSettingsFromEnv({ HUB_DEVICE_IDENTITY: 'certificate' }, { dataDir: '/var/lib/hub' }),
      ).toMatchObject({
        mode: 'embedded',
        certificate: {
          tlsPort: 8884,
          pkiDir: '/var/lib/hub/pki',
          crlFile: '/var/lib/hub/pki/crl.pem',
          serverNames: [],
          certDays: 3650,
        },
      });
      expect(
        mqttSettingsFromEnv(
          {
            HUB_DEVICE_IDENTITY: 'certificate',
            MQTT_EMBEDDED_TLS_PORT: '9884',
            HUB_MQTT_DEVICE_TLS_URL: 'mqtts://hub.example:9884',
            HUB_MQTT_TLS_SERVER_NAMES: 'hub.lan, 10.0.0.5',
          },
          { dataDir: 'd' },
        ),
      ).toMatchObject({
        certificate: {
          tlsPort: 9884,
          deviceUrl: 'mqtts://hub.example:9884',
          serverNames: ['hub.lan', '10.0.0.5'],
        },
      });
    });
    test('on the embedded broker: names a bad TLS port or a non-TLS device URL', () => {
      expect(() =>
        mqttSettingsFromEnv(
          { HUB_DEVICE_IDENTITY: 'certificate', MQTT_EMBEDDED_TLS_PORT: 'x' },
          { dataDir: 'd' },
        ),
      ).toThrow(/MQTT_EMBEDDED_TLS_PORT/);
      expect(() =>
        mqttSettingsFromEnv(
          { HUB_DEVICE_IDENTITY: 'certificate', HUB_MQTT_DEVICE_TLS_URL: 'mqtt://h:1' },
          { dataDir: 'd' },
        ),
      ).toThrow(/HUB_MQTT_DEVICE_TLS_URL: must be an mqtts/);
    });
  });
});

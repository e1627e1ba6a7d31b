import { join } from 'node:path';
import { z } from 'zod';
import type { HubConfig } from '../config/hub-config.js';

/** Device identity by client certificates from the hub CA (HUB_DEVICE_IDENTITY=certificate). */
export const CertificateIdentitySettings = z.object({
  /** The broker's certificate listener, handed to devices (`mqtts://host:8883`). */
  deviceUrl: z.string().regex(/^(mqtts|ssl|tls|wss):\/\//, { error: 'must be an mqtts:// (TLS) URL' }),
  /** CA key, certificate, issued and revoked lists; default `<HUB_DATA_DIR>/pki`. */
  pkiDir: z.string().min(1),
  caCertFile: z.string().min(1).optional(),
  caKeyFile: z.string().min(1).optional(),
  /** The broker's `crlfile`: the hub rewrites it on every revocation. */
  crlFile: z.string().min(1),
  /** The broker's `pid_file`: SIGHUP after a CRL change (Mosquitto 2.0.11 re-reads crlfile then). */
  brokerPidFile: z.string().min(1).optional(),
  certDays: z.coerce.number().int().min(1).max(36500).default(3650),
});
export type CertificateIdentitySettings = z.infer<typeof CertificateIdentitySettings>;

/**
 * Certificate identity on the embedded broker (decision 0053): aedes gets a TLS listener whose
 * server certificate the hub CA issues at every start; it reads and watches the CRL itself.
 */
export const EmbeddedCertificateSettings = z.object({
  /** 8884, not 8883: beside a system Mosquitto's TLS port, as 1884 is beside 1883. */
  tlsPort: z.coerce.number().int().min(0).max(65535).default(8884),
  /** Handed to devices; default mqtts://<HUB_MQTT_PUBLIC_URL's host, else 127.0.0.1>:<tlsPort>. */
  deviceUrl: z
    .string()
    .regex(/^(mqtts|ssl|tls):\/\//, { error: 'must be an mqtts:// (TLS) URL' })
    .optional(),
  /** Extra names/addresses for the listener's server certificate (the device URL's host is in it). */
  serverNames: z.array(z.string().min(1)).default([]),
  pkiDir: z.string().min(1),
  caCertFile: z.string().min(1).optional(),
  caKeyFile: z.string().min(1).optional(),
  /** Default `<pkiDir>/crl.pem`. */
  crlFile: z.string().min(1),
  certDays: z.coerce.number().int().min(1).max(36500).default(3650),
});
export type EmbeddedCertificateSettings = z.infer<typeof EmbeddedCertificateSettings>;

/**
 * How the hub reaches its broker. `embedded` (no MQTT_URL): aedes in the hub's process.
 * `mosquitto`: an external Mosquitto 2.0 with the dynamic security plugin, which the hub drives
 * as a dynsec admin (docs/broker.md).
 */
export const MqttSettings = z.discriminatedUnion('mode', [
  z.object({
    mode: z.literal('embedded'),
    host: z.string().min(1).default('0.0.0.0'),
    /** 1884, not 1883: a system Mosquitto often holds 1883 (it does on the dev machines). */
    port: z.coerce.number().int().min(0).max(65535).default(1884),
    credentialFile: z.string().min(1),
    /** URL handed to devices at provisioning; defaults to mqtt://127.0.0.1:<port>. */
    publicUrl: z.url().optional(),
    /** Present when HUB_DEVICE_IDENTITY=certificate (decision 0053). */
    certificate: EmbeddedCertificateSettings.optional(),
  }),
  z.object({
    mode: z.literal('mosquitto'),
    url: z.url(),
    adminUsername: z.string().min(1),
    adminPassword: z.string().min(1),
    hubUsername: z.string().min(1).default('fleet-hub'),
    hubPassword: z.string().min(8),
    /** Stable per replica (e.g. the pod name) to keep a persistent session across restarts. */
    clientId: z.string().min(1).max(128).optional(),
    sessionExpirySeconds: z.coerce.number().int().positive().optional(),
    publicUrl: z.url().optional(),
    /** Present when HUB_DEVICE_IDENTITY=certificate (decision 0052); absent: per-device dynsec passwords. */
    certificate: CertificateIdentitySettings.optional(),
  }),
]);
export type MqttSettings = z.infer<typeof MqttSettings>;

const ENV_NAMES: Record<string, string> = {
  url: 'MQTT_URL',
  adminUsername: 'MQTT_ADMIN_USERNAME',
  adminPassword: 'MQTT_ADMIN_PASSWORD',
  hubUsername: 'MQTT_HUB_USERNAME',
  hubPassword: 'MQTT_HUB_PASSWORD',
  clientId: 'MQTT_CLIENT_ID',
  sessionExpirySeconds: 'MQTT_SESSION_EXPIRY_SECONDS',
  host: 'MQTT_EMBEDDED_HOST',
  port: 'MQTT_EMBEDDED_PORT',
  publicUrl: 'HUB_MQTT_PUBLIC_URL',
  deviceUrl: 'HUB_MQTT_DEVICE_TLS_URL',
  pkiDir: 'HUB_PKI_DIR',
  caCertFile: 'HUB_CA_CERT_FILE',
  caKeyFile: 'HUB_CA_KEY_FILE',
  crlFile: 'HUB_CRL_FILE',
  brokerPidFile: 'HUB_BROKER_PID_FILE',
  certDays: 'HUB_DEVICE_CERT_DAYS',
  tlsPort: 'MQTT_EMBEDDED_TLS_PORT',
  serverNames: 'HUB_MQTT_TLS_SERVER_NAMES',
};

/** Reads the broker settings from the environment; throws naming each bad variable. */
export function mqttSettingsFromEnv(
  env: NodeJS.ProcessEnv,
  config: Pick<HubConfig, 'mqttUrl' | 'mqttPublicUrl' | 'dataDir'>,
): MqttSettings {
  const pick = (v: string | undefined) => (v === undefined || v === '' ? undefined : v);
  const identity = pick(env.HUB_DEVICE_IDENTITY) ?? 'password';
  if (identity !== 'password' && identity !== 'certificate')
    throw new Error(
      `invalid broker configuration: HUB_DEVICE_IDENTITY must be password or certificate, not ${JSON.stringify(identity)}`,
    );
  const pkiDir = pick(env.HUB_PKI_DIR) ?? join(config.dataDir, 'pki');
  const common = {
    pkiDir,
    caCertFile: pick(env.HUB_CA_CERT_FILE),
    caKeyFile: pick(env.HUB_CA_KEY_FILE),
    certDays: pick(env.HUB_DEVICE_CERT_DAYS),
  };
  const defined = (o: Record<string, unknown>) =>
    Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined));
  const certificate =
    identity !== 'certificate'
      ? undefined
      : config.mqttUrl === undefined
        ? defined({
            ...common,
            tlsPort: pick(env.MQTT_EMBEDDED_TLS_PORT),
            deviceUrl: pick(env.HUB_MQTT_DEVICE_TLS_URL),
            serverNames: pick(env.HUB_MQTT_TLS_SERVER_NAMES)
              ?.split(',')
              .map((n) => n.trim())
              .filter(Boolean),
            crlFile: pick(env.HUB_CRL_FILE) ?? join(pkiDir, 'crl.pem'),
          })
        : defined({
            ...common,
            deviceUrl: pick(env.HUB_MQTT_DEVICE_TLS_URL),
            crlFile: pick(env.HUB_CRL_FILE),
            brokerPidFile: pick(env.HUB_BROKER_PID_FILE),
          });
  const raw =
    config.mqttUrl === undefined
      ? {
          mode: 'embedded',
          host: pick(env.MQTT_EMBEDDED_HOST),
          port: pick(env.MQTT_EMBEDDED_PORT),
          credentialFile: join(config.dataDir, 'broker-credentials.json'),
          publicUrl: config.mqttPublicUrl,
          certificate,
        }
      : {
          mode: 'mosquitto',
          url: config.mqttUrl,
          adminUsername: pick(env.MQTT_ADMIN_USERNAME),
          adminPassword: pick(env.MQTT_ADMIN_PASSWORD),
          hubUsername: pick(env.MQTT_HUB_USERNAME),
          hubPassword: pick(env.MQTT_HUB_PASSWORD),
          clientId: pick(env.MQTT_CLIENT_ID),
          sessionExpirySeconds: pick(env.MQTT_SESSION_EXPIRY_SECONDS),
          publicUrl: config.mqttPublicUrl,
          certificate,
        };
  const parsed = MqttSettings.safeParse(
    Object.fromEntries(Object.entries(raw).filter(([, v]) => v !== undefined)),
  );
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => {
      const field = String(i.path[0] === 'certificate' ? (i.path[1] ?? 'certificate') : i.path[0]);
      return `  ${ENV_NAMES[field] ?? i.path.join('.')}: ${i.message}`;
    });
    throw new Error(`invalid broker configuration (${raw.mode}):\n${lines.join('\n')}`);
  }
  return parsed.data;
}

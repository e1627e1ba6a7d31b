import { z } from 'zod';

/** Everything the hub reads from its environment, validated once at start. */
export const HubConfig = z.object({
  /** Postgres URL; absent → main.ts starts an embedded Postgres and fills it in. */
  databaseUrl: z.string().url().optional(),
  /** Broker URL; absent → the broker module starts the embedded broker. */
  mqttUrl: z.string().url().optional(),
  port: z.coerce.number().int().min(0).max(65535).default(8080),
  host: z.string().min(1).default('0.0.0.0'),
  /** URL devices and CLIs use to reach this hub (object URLs are built from it). */
  publicUrl: z.string().url().default('http://127.0.0.1:8080'),
  /** URL devices use to reach the broker, handed out at provisioning. */
  mqttPublicUrl: z.string().url().optional(),
  /** Embedded Postgres data, broker credentials; objects too unless OBJECT_DIR is set. */
  dataDir: z.string().min(1).default('.fleet/hub'),
  /** Content-addressed object store root; default `<dataDir>/objects`. */
  objectDir: z.string().min(1).optional(),
  /** Port of the embedded Postgres (only without DATABASE_URL). */
  embeddedPostgresPort: z.coerce.number().int().min(1).max(65535).default(54329),
  adminEmail: z.string().email().optional(),
  adminPassword: z.string().min(8).optional(),
  /** Largest JSON body accepted, bytes. Object uploads are streamed and limited separately. */
  bodyLimitBytes: z.coerce
    .number()
    .int()
    .positive()
    .default(1024 * 1024),
  maxObjectBytes: z.coerce
    .number()
    .int()
    .positive()
    .default(8 * 1024 * 1024 * 1024),
  sessionTtlHours: z.coerce
    .number()
    .positive()
    .default(24 * 7),
  telemetryRetentionDays: z.coerce.number().int().positive().default(30),
  logRetentionDays: z.coerce.number().int().positive().default(14),
  logLevel: z.enum(['error', 'warn', 'log', 'debug', 'verbose']).default('log'),
  /** Honour X-Forwarded-* (only behind a reverse proxy you control). */
  trustProxy: z
    .enum(['true', 'false'])
    .default('false')
    .transform((v) => v === 'true'),
  /** The built dashboard (web/dist); served at / when the folder exists. */
  webDir: z.string().min(1).optional(),
});
export type HubConfig = z.infer<typeof HubConfig>;

/** The object store directory a config resolves to. */
export function objectDirOf(config: HubConfig): string {
  return config.objectDir ?? `${config.dataDir.replace(/\/+$/, '')}/objects`;
}
export type HubConfigInput = z.input<typeof HubConfig>;

/** Maps the environment onto HubConfig; throws a readable error naming each bad variable. */
export function configFromEnv(env: NodeJS.ProcessEnv): HubConfig {
  const raw = {
    databaseUrl: env.DATABASE_URL || undefined,
    mqttUrl: env.MQTT_URL || undefined,
    port: env.HUB_PORT,
    host: env.HUB_HOST,
    publicUrl: env.HUB_PUBLIC_URL,
    mqttPublicUrl: env.HUB_MQTT_PUBLIC_URL,
    objectDir: env.OBJECT_DIR,
    dataDir: env.HUB_DATA_DIR,
    embeddedPostgresPort: env.HUB_EMBEDDED_PG_PORT,
    adminEmail: env.HUB_ADMIN_EMAIL,
    adminPassword: env.HUB_ADMIN_PASSWORD,
    bodyLimitBytes: env.HUB_BODY_LIMIT_BYTES,
    maxObjectBytes: env.HUB_MAX_OBJECT_BYTES,
    sessionTtlHours: env.HUB_SESSION_TTL_HOURS,
    telemetryRetentionDays: env.HUB_TELEMETRY_RETENTION_DAYS,
    logRetentionDays: env.HUB_LOG_RETENTION_DAYS,
    logLevel: env.HUB_LOG_LEVEL,
    trustProxy: env.HUB_TRUST_PROXY,
    webDir: env.HUB_WEB_DIR,
  };
  const names: Record<string, string> = {
    databaseUrl: 'DATABASE_URL',
    mqttUrl: 'MQTT_URL',
    port: 'HUB_PORT',
    host: 'HUB_HOST',
    publicUrl: 'HUB_PUBLIC_URL',
    mqttPublicUrl: 'HUB_MQTT_PUBLIC_URL',
    objectDir: 'OBJECT_DIR',
    dataDir: 'HUB_DATA_DIR',
    embeddedPostgresPort: 'HUB_EMBEDDED_PG_PORT',
    adminEmail: 'HUB_ADMIN_EMAIL',
    adminPassword: 'HUB_ADMIN_PASSWORD',
    bodyLimitBytes: 'HUB_BODY_LIMIT_BYTES',
    maxObjectBytes: 'HUB_MAX_OBJECT_BYTES',
    sessionTtlHours: 'HUB_SESSION_TTL_HOURS',
    telemetryRetentionDays: 'HUB_TELEMETRY_RETENTION_DAYS',
    logRetentionDays: 'HUB_LOG_RETENTION_DAYS',
    logLevel: 'HUB_LOG_LEVEL',
    trustProxy: 'HUB_TRUST_PROXY',
    webDir: 'HUB_WEB_DIR',
  };
  const parsed = HubConfig.safeParse(
    Object.fromEntries(Object.entries(raw).filter(([, v]) => v !== undefined && v !== '')),
  );
  if (!parsed.success) {
    const lines = parsed.error.issues.map(
      (i) => `  ${names[String(i.path[0])] ?? i.path.join('.')}: ${i.message}`,
    );
    throw new Error(`invalid hub configuration:\n${lines.join('\n')}`);
  }
  return parsed.data;
}

/** Nest injection token for the validated HubConfig. */
export const HUB_CONFIG = Symbol('HUB_CONFIG');

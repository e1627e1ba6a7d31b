import { z } from 'zod';
import { BoardName, SemVer } from './manifest.js';
import { TrustRoot } from './signing.js';
import { parseWith, type Result } from './result.js';

/** `POST /api/v1/provision`: a device claims itself into a fleet with a claim token. */
export const ProvisionRequest = z.strictObject({
  claimToken: z.string().min(16).max(256),
  /** Stable per board (serial, MAC, machine-id): the same hardware re-provisions to the same device. */
  hardwareId: z.string().min(1).max(128),
  /** The device's own ed25519 public key, raw 32 bytes base64, generated on the device. */
  publicKey: z
    .string()
    .regex(/^[A-Za-z0-9+/]{43}=$/, { error: 'must be a base64 raw ed25519 public key (32 bytes)' }),
  board: BoardName,
  agentVersion: SemVer,
  name: z.string().min(1).max(128).optional(),
});
export type ProvisionRequest = z.infer<typeof ProvisionRequest>;

// A response, unlike a request, ignores fields it does not know: a newer hub may add some
// (certificates, protocol version) and an older agent must still provision.
export const ProvisionResponse = z.object({
  deviceId: z.string().min(1).max(128),
  fleetId: z.string().min(1).max(128),
  mqtt: z.object({
    url: z
      .string()
      .regex(/^(mqtts?|wss?|tcp|tls):\/\//, { error: 'must be an mqtt://, mqtts://, ws:// or wss:// URL' }),
    username: z.string().min(1),
    password: z.string().min(1),
    clientId: z.string().min(1),
    /**
     * MQTT version the broker speaks: 5 (Mosquitto) or 4 = 3.1.1 (the embedded aedes refuses
     * MQTT 5). Absent: the device tries 5 and falls back to 3.1.1.
     */
    protocolVersion: z.union([z.literal(4), z.literal(5)]).optional(),
    /**
     * Certificate identity (hub `HUB_DEVICE_IDENTITY=certificate`): a client certificate (PEM)
     * for the device's own ed25519 key (`ProvisionRequest.publicKey`), CN = device id. The
     * device connects to `url` (mqtts://) with it and that key; the broker ignores username and
     * password there (they remain the device's HTTP credentials). Absent: password identity.
     */
    certificate: z.string().startsWith('-----BEGIN CERTIFICATE-----').max(16_384).optional(),
    /** The hub CA (PEM) that issued `certificate` and the broker's server certificate. */
    caCertificate: z.string().startsWith('-----BEGIN CERTIFICATE-----').max(16_384).optional(),
  }),
  /** Base of object URLs; the device authenticates with HTTP Basic `username:password`. */
  objectBaseUrl: z.url(),
});
export type ProvisionResponse = z.infer<typeof ProvisionResponse>;

/** Telemetry is published every 5 minutes unless the config says otherwise (decision 0037). */
export const DEFAULT_TELEMETRY_PUBLISH_MS = 300_000;

/**
 * The agent's configuration file (written into the image by `fleet-image build`, or by hand on
 * a PC). Everything the device needs to find and trust its hub.
 */
export const AgentConfig = z.strictObject({
  hubUrl: z.url(),
  claimToken: z.string().min(16).max(256).optional(),
  /** Release signing keys this device trusts. */
  trustRoots: z.array(TrustRoot).default([]),
  board: BoardName,
  /** Data partition root: objects, revisions, volumes, journal, credentials. */
  storageDir: z.string().startsWith('/').default('/storage'),
  name: z.string().max(128).optional(),
  /**
   * Overrides the hardware id read from the board (device-tree serial, DMI UUID, machine-id).
   * For several agents on one PC (the local demo, tests); a real board leaves it out.
   */
  hardwareId: z.string().min(1).max(128).optional(),
  intervals: z
    .strictObject({
      /** A telemetry sample is taken every this many ms. */
      telemetryMs: z.number().int().min(1_000).default(60_000),
      /**
       * The samples taken since the last message are published every this many ms (decision
       * 0037): ≥ telemetryMs; equal sends one sample per message. Absent: 300 000 (5 samples a
       * message at the default telemetryMs), or telemetryMs when that is longer.
       */
      telemetryPublishMs: z
        .number()
        .int({ error: 'telemetryPublishMs must be a whole number of milliseconds' })
        .positive({ error: 'telemetryPublishMs must be > 0 (and ≥ telemetryMs)' })
        .optional(),
      reportMs: z.number().int().min(1_000).default(300_000),
      logFlushMs: z.number().int().min(100).default(2_000),
    })
    .superRefine((v, ctx) => {
      if (v.telemetryPublishMs !== undefined && v.telemetryPublishMs < v.telemetryMs)
        ctx.addIssue({
          code: 'custom',
          path: ['telemetryPublishMs'],
          message: `telemetryPublishMs (${v.telemetryPublishMs}) must be ≥ telemetryMs (${v.telemetryMs}): samples are published in batches, a message holds at least one`,
        });
    })
    .transform((v) => ({
      ...v,
      telemetryPublishMs: v.telemetryPublishMs ?? Math.max(DEFAULT_TELEMETRY_PUBLISH_MS, v.telemetryMs),
    }))
    .default({
      telemetryMs: 60_000,
      telemetryPublishMs: DEFAULT_TELEMETRY_PUBLISH_MS,
      reportMs: 300_000,
      logFlushMs: 2_000,
    }),
  limits: z
    .strictObject({
      /** On-disk queue of reports/progress kept while offline. */
      offlineQueueBytes: z
        .number()
        .int()
        .min(64 * 1024)
        .default(8 * 1024 * 1024),
      logLinesPerSecond: z.number().int().min(1).default(200),
    })
    .default({ offlineQueueBytes: 8 * 1024 * 1024, logLinesPerSecond: 200 }),
  tls: z.strictObject({ caFile: z.string().optional() }).optional(),
  /** Seconds of health before an update commits, unless the target says otherwise. */
  bakeSeconds: z.number().int().nonnegative().default(30),
  bootControl: z.enum(['file', 'uboot-env', 'board']).default('file'),
  /** The `uboot-env` backend: the slot block devices and the fw_env.config describing the env copies. */
  uboot: z
    .strictObject({
      slotA: z.string().startsWith('/'),
      slotB: z.string().startsWith('/'),
      fwEnvConfig: z.string().startsWith('/'),
    })
    .optional(),
  /** A hardware watchdog the agent pets while its main loop is alive. */
  watchdog: z
    .strictObject({
      device: z.string().startsWith('/dev/'),
      intervalMs: z.number().int().min(100).default(5_000),
      timeoutSeconds: z.number().int().min(1).max(3600).optional(),
    })
    .optional(),
  /** Where the agent's LXC containers live; default `<storageDir>/containers`. */
  lxcpath: z.string().startsWith('/').optional(),
});
export type AgentConfig = z.output<typeof AgentConfig>;
export type AgentConfigInput = z.input<typeof AgentConfig>;

export const parseAgentConfig = (input: unknown): Result<AgentConfig> =>
  parseWith('AgentConfig', AgentConfig, input);
export const parseProvisionRequest = (input: unknown): Result<ProvisionRequest> =>
  parseWith('ProvisionRequest', ProvisionRequest, input);
export const parseProvisionResponse = (input: unknown): Result<ProvisionResponse> =>
  parseWith('ProvisionResponse', ProvisionResponse, input);

import { randomUUID } from 'node:crypto';
import { z } from 'zod';
import { Digest } from '../digest.js';
import { ContainerState, ReasonCode, ReportedStatus, UpdateState } from '../enums.js';
import { ContainerName, ReleaseManifest, SemVer } from '../manifest.js';
import { parseWith, err, ProtocolError, type Result } from '../result.js';
import type { TopicKind } from './topics.js';

// Bodies are plain z.object (unknown keys stripped, not refused): a newer agent may add a field
// an older hub does not know yet, and the message must still count.

const Time = z.iso.datetime({ offset: true });
const Bytes = z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER);

export const Presence = z.object({
  state: z.enum(['online', 'offline']),
  agentVersion: SemVer.optional(),
  /** Changes at every boot; lets the hub tell a reboot from a reconnect. */
  bootId: z.string().max(64).optional(),
});
export type Presence = z.infer<typeof Presence>;

/** What a revision is, as devices and the hub name it. */
export const RevisionRef = z.object({
  digest: Digest,
  version: SemVer,
  sequence: z.number().int().positive(),
});
export type RevisionRef = z.infer<typeof RevisionRef>;

export const ContainerStatus = z.object({
  name: ContainerName,
  state: ContainerState,
  restarts: z.number().int().nonnegative(),
  exitCode: z.number().int().optional(),
  startedAt: Time.optional(),
  message: z.string().max(1024).optional(),
});
export type ContainerStatus = z.infer<typeof ContainerStatus>;

export const Report = z.object({
  revision: RevisionRef.nullable(),
  updateState: UpdateState,
  bootSlot: z.enum(['a', 'b']).optional(),
  board: z.string().max(64),
  agentVersion: SemVer,
  configVersion: z.number().int().nonnegative().optional(),
  containers: z.array(ContainerStatus).max(256),
  /** What the device holds, so the hub can predict downloads (dry run) without asking. */
  inventory: z.object({
    objects: z.array(Digest).max(10_000),
    freeBytes: Bytes,
    totalBytes: Bytes,
  }),
  /** Revisions that failed here; the hub never sends them again unless forced. */
  failedRevisions: z.array(Digest).max(1_000).default([]),
});
export type Report = z.infer<typeof Report>;

export const Progress = z.object({
  updateId: z.string().min(1).max(64),
  revision: RevisionRef,
  state: UpdateState,
  status: ReportedStatus,
  percent: z.number().min(0).max(100),
  bytesDone: Bytes.optional(),
  bytesTotal: Bytes.optional(),
  reason: ReasonCode.optional(),
  message: z.string().max(4096).optional(),
  /** The console of a boot that failed, when the bootloader fell back (capped). */
  failedBootLog: z
    .string()
    .max(64 * 1024)
    .optional(),
});
export type Progress = z.infer<typeof Progress>;

export const TelemetrySample = z.object({
  time: Time,
  cpuPercent: z
    .number()
    .min(0)
    .max(100 * 1024),
  memUsedBytes: Bytes,
  memTotalBytes: Bytes,
  diskUsedBytes: Bytes,
  diskTotalBytes: Bytes,
  temperatureC: z.number().min(-273.15).max(1000).optional(),
  load1: z.number().nonnegative().optional(),
  uptimeSeconds: z.number().nonnegative().optional(),
});
export type TelemetrySample = z.infer<typeof TelemetrySample>;

export const Telemetry = z.object({ samples: z.array(TelemetrySample).min(1).max(1_000) });
export type Telemetry = z.infer<typeof Telemetry>;

export const LogLine = z.object({
  time: Time,
  /** A container name, or `agent` / `system` for the device's own logs. */
  source: z.string().min(1).max(64),
  stream: z.enum(['stdout', 'stderr', 'console', 'system']),
  text: z.string().max(8 * 1024),
});
export type LogLine = z.infer<typeof LogLine>;

export const Logs = z.object({
  lines: z.array(LogLine).min(1).max(1_000),
  /** Lines the agent dropped by its rate limit since the last batch. */
  dropped: z.number().int().nonnegative().default(0),
});
export type Logs = z.infer<typeof Logs>;

const HHMM = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, { error: 'must be HH:MM (24 h)' });
export const Weekday = z.enum(['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun']);

/** Install only inside this device-local window; downloads may happen at once. */
export const MaintenanceWindow = z.object({
  days: z.array(Weekday).min(1).default(['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun']),
  /** Local time; `end` before `start` means the window spans midnight. */
  start: HHMM,
  end: HHMM,
  /** IANA time zone; when absent the device's own local time. */
  timeZone: z.string().max(64).optional(),
});
export type MaintenanceWindow = z.infer<typeof MaintenanceWindow>;

export const Target = z.object({
  updateId: z.string().min(1).max(64),
  release: ReleaseManifest,
  /** Where to fetch objects: `objectUrl(objectBaseUrl, digest)`. */
  objectBaseUrl: z.url(),
  /** Per-container operator variables; a change restarts only the containers it touches. */
  config: z.record(ContainerName, z.record(z.string(), z.string())).default({}),
  configVersion: z.number().int().nonnegative().default(0),
  strategy: z.enum(['stop-start', 'hand-over']).default('stop-start'),
  window: MaintenanceWindow.optional(),
  /** Install even if this revision failed here before (operator's explicit choice). */
  force: z.boolean().default(false),
  /** Seconds the health gate must hold before commit. */
  bakeSeconds: z.number().int().nonnegative().max(86_400).default(30),
  rolloutId: z.string().max(64).optional(),
});
export type Target = z.infer<typeof Target>;

export const Command = z.discriminatedUnion('name', [
  z.object({ commandId: z.string().min(1).max(64), name: z.literal('reboot') }),
  z.object({
    commandId: z.string().min(1).max(64),
    name: z.literal('restart-container'),
    container: ContainerName,
  }),
  z.object({
    commandId: z.string().min(1).max(64),
    name: z.literal('upload-logs'),
    since: Time.optional(),
    container: ContainerName.optional(),
  }),
]);
export type Command = z.infer<typeof Command>;

export const CommandAck = z.object({
  commandId: z.string().min(1).max(64),
  status: z.enum(['accepted', 'done', 'failed', 'rejected']),
  message: z.string().max(4096).optional(),
});
export type CommandAck = z.infer<typeof CommandAck>;

/** The body schema of each topic kind. */
export const MESSAGE_BODIES = {
  presence: Presence,
  report: Report,
  progress: Progress,
  telemetry: Telemetry,
  logs: Logs,
  ack: CommandAck,
  target: Target,
  command: Command,
} as const satisfies Record<TopicKind, z.ZodType>;

export type MessageBody<K extends TopicKind> = z.output<(typeof MESSAGE_BODIES)[K]>;
export type MessageBodyInput<K extends TopicKind> = z.input<(typeof MESSAGE_BODIES)[K]>;

export const ENVELOPE_VERSION = 1;

/**
 * Every MQTT payload is one envelope: schema version, kind, message id (for dedup after a
 * QoS 1 redelivery or an offline replay), the sender's time, and the body. The keys `data` and
 * `pattern` are refused at the top level: they are how NestJS microservice transports frame
 * messages, and a payload carrying them would be ambiguous to such a consumer.
 */
export const Envelope = z.strictObject({
  v: z.literal(ENVELOPE_VERSION),
  kind: z.enum(['presence', 'report', 'progress', 'telemetry', 'logs', 'ack', 'target', 'command']),
  id: z.uuid(),
  time: Time,
  body: z.unknown(),
});
export type Envelope<K extends TopicKind = TopicKind, B = unknown> = Omit<
  z.infer<typeof Envelope>,
  'kind' | 'body'
> & {
  kind: K;
  body: B;
};

/** Payloads above this are refused before JSON parsing (a release manifest stays far below). */
export const MAX_PAYLOAD_BYTES = 4 * 1024 * 1024;

export interface EncodeOptions {
  id?: string;
  time?: Date;
}

/** Builds the envelope for a body (validated: a sender never puts a bad message on the wire). */
export function encodeMessage<K extends TopicKind>(
  kind: K,
  body: MessageBodyInput<K>,
  opts: EncodeOptions = {},
): Result<{ envelope: Envelope<K, MessageBody<K>>; payload: Buffer }> {
  const parsed = parseWith(`mqtt:${kind}`, MESSAGE_BODIES[kind] as z.ZodType, body);
  if (!parsed.ok) return parsed;
  const envelope = {
    v: ENVELOPE_VERSION,
    kind,
    id: opts.id ?? randomUUID(),
    time: (opts.time ?? new Date()).toISOString(),
    body: parsed.value as MessageBody<K>,
  } as Envelope<K, MessageBody<K>>;
  return { ok: true, value: { envelope, payload: Buffer.from(JSON.stringify(envelope)) } };
}

/** Parses and validates a received payload for a topic kind. Never throws. */
export function decodeMessage<K extends TopicKind>(
  kind: K,
  payload: Uint8Array | string,
): Result<Envelope<K, MessageBody<K>>> {
  const subject = `mqtt:${kind}`;
  const size = typeof payload === 'string' ? Buffer.byteLength(payload) : payload.byteLength;
  if (size > MAX_PAYLOAD_BYTES) {
    return err(
      new ProtocolError(subject, [
        { path: '$', code: 'too_big', message: `payload of ${size} bytes exceeds ${MAX_PAYLOAD_BYTES}` },
      ]),
    );
  }
  let json: unknown;
  try {
    json = JSON.parse(typeof payload === 'string' ? payload : Buffer.from(payload).toString('utf8'));
  } catch (e) {
    return err(
      new ProtocolError(subject, [
        { path: '$', code: 'invalid_json', message: `not JSON: ${(e as Error).message}` },
      ]),
    );
  }
  const env = parseWith(subject, Envelope, json);
  if (!env.ok) return env;
  if (env.value.kind !== kind) {
    return err(
      new ProtocolError(subject, [
        { path: '$.kind', code: 'wrong_kind', message: `is "${env.value.kind}" on a ${kind} topic` },
      ]),
    );
  }
  const body = parseWith(subject, MESSAGE_BODIES[kind] as z.ZodType, env.value.body);
  if (!body.ok) {
    // Body paths are reported from the envelope root so the log points at the real place.
    return err(
      new ProtocolError(
        subject,
        body.error.issues.map((i) => ({ ...i, path: i.path.replace(/^\$/, '$.body') })),
      ),
    );
  }
  return { ok: true, value: { ...env.value, kind, body: body.value as MessageBody<K> } };
}

import type { CommandAck, LogLine, Presence, Progress, Report, TelemetrySample } from '@fleet/protocol';

/** Facts about one received message, besides its body. */
export interface MessageMeta {
  /** Envelope id: the same id twice is a QoS 1 redelivery or an offline replay. */
  messageId: string;
  /** The sender's clock (envelope `time`). */
  sentAt: Date;
  /** The hub's clock when the message arrived. */
  receivedAt: Date;
  /** Came from the broker's retained store (presence at subscribe time), not sent just now. */
  retained: boolean;
  /**
   * When the device was last known alive because of this message: the hub's clock for live
   * messages, the device's for a retained one (which may be hours old).
   */
  seenAt: Date;
}

export interface TelemetryRow extends TelemetrySample {
  deviceId: string;
}

export interface LogRow extends LogLine {
  deviceId: string;
}

/**
 * One device's message in a batch. Presence and reports: at most one per device in a batch;
 * progress and acks: several may come, to be applied in item order (ingest sends one).
 */
export interface StateItem<B> {
  deviceId: string;
  body: B;
  meta: MessageMeta;
}

/**
 * Where ingest delivers validated device messages. Every method receives data that protocol
 * has already validated and whose device id comes from the topic (the broker guarantees a
 * device can only publish under its own id). Implemented by the hub-core services.
 *
 * A message about an unknown or decommissioned device resolves and does nothing. Reject only
 * for failures worth retrying (the database is away): ingest retries a few times, holding
 * back that device's later messages, then counts, logs and drops it. Batches are retried
 * until their queue overflows.
 *
 * Calls for one device arrive in the order the broker delivered them (never two at once for the
 * same device); telemetry and logs arrive in batches of many devices. Presence, reports,
 * progress and acks arrive in batches (`recordPresences`, `recordReports`, `recordProgresses`,
 * `recordCommandAcks`: one message per device each) when the sink has them, else one call per
 * message; a batch that rejects is retried, then split to find the message it cannot store.
 */
export interface IngestSink {
  /** online/offline (retained, and the Last Will) → device online flag and last seen. */
  recordPresence(deviceId: string, presence: Presence, meta: MessageMeta): Promise<void>;
  /** Current revision, update state, container states (with a history of changes), inventory. */
  recordReport(deviceId: string, report: Report, meta: MessageMeta): Promise<void>;
  /** Many devices' presence in a few statements (optional: else `recordPresence` each). */
  recordPresences?(items: readonly StateItem<Presence>[]): Promise<void>;
  /** Many devices' reports in a few statements (optional: else `recordReport` each). */
  recordReports?(items: readonly StateItem<Report>[]): Promise<void>;
  /** Update progress → update events (and the rollout engine's device state). */
  recordProgress(deviceId: string, progress: Progress, meta: MessageMeta): Promise<void>;
  /** A command acknowledgement → the command's status. */
  recordCommandAck(deviceId: string, ack: CommandAck, meta: MessageMeta): Promise<void>;
  /** Many progress messages in one transaction (optional: else `recordProgress` each). */
  recordProgresses?(items: readonly StateItem<Progress>[]): Promise<void>;
  /** Many acks in one transaction (optional: else `recordCommandAck` each). */
  recordCommandAcks?(items: readonly StateItem<CommandAck>[]): Promise<void>;
  /** A batch of telemetry samples; duplicates (same device and time) must be ignored. */
  insertTelemetry(rows: readonly TelemetryRow[]): Promise<void>;
  /** A batch of log lines. */
  insertLogs(rows: readonly LogRow[]): Promise<void>;
}

/** Nest injection token for the IngestSink implementation. */
export const INGEST_SINK = Symbol.for('fleet.hub.IngestSink');

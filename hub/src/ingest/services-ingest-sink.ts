import type { CommandAck, Presence, Progress, Report, TelemetrySample } from '@fleet/protocol';
import type { IngestSink, LogRow, MessageMeta, StateItem, TelemetryRow } from './ingest-sink.js';

// The hub-core services ingest hands messages to, narrowed to the methods it calls (so this
// file depends on what they promise, not on how they are built).
export interface DeviceIngestPort {
  recordPresence(
    deviceId: string,
    presence: Presence,
    at: Date,
    origin: { sentAt: Date; retained: boolean },
  ): Promise<unknown>;
  recordReport(deviceId: string, report: Report, at: Date, sentAt: Date): Promise<unknown>;
  /** Batch forms (DevicesService has them; stubs in benchmarks may not). */
  recordPresences?(items: readonly PresenceWrite[]): Promise<unknown>;
  recordReports?(items: readonly ReportWrite[]): Promise<unknown>;
  recordCommandAck(deviceId: string, ack: CommandAck, at: Date): Promise<unknown>;
  recordCommandAcks?(items: readonly AckWrite[]): Promise<unknown>;
}
/** DevicesService.recordCommandAcks' item: the arguments of recordCommandAck. */
export interface AckWrite {
  deviceId: string;
  ack: CommandAck;
  at: Date;
}
/** DevicesService.recordPresences' item: the arguments of recordPresence. */
export interface PresenceWrite {
  deviceId: string;
  presence: Presence;
  at: Date;
  origin: { sentAt: Date; retained: boolean };
}
/** DevicesService.recordReports' item: the arguments of recordReport. */
export interface ReportWrite {
  deviceId: string;
  report: Report;
  at: Date;
  sentAt: Date;
}
export interface ProgressIngestPort {
  recordProgress(deviceId: string, progress: Progress, at: Date): Promise<unknown>;
  /** Batch form (UpdatesService has it; stubs in benchmarks may not). */
  recordProgresses?(items: readonly ProgressWrite[]): Promise<unknown>;
}
/** UpdatesService.recordProgresses' item: the arguments of recordProgress. */
export interface ProgressWrite {
  deviceId: string;
  progress: Progress;
  at: Date;
}
export interface TelemetryIngestPort {
  ingestBatch(batch: { deviceId: string; samples: TelemetrySample[] }[]): Promise<unknown>;
  /** The queue's rows as they are (TelemetryService has it; stubs in benchmarks may not). */
  ingestRows?(rows: readonly TelemetryRow[]): Promise<unknown>;
}
export interface LogIngestPort {
  ingestBatch(rows: LogRow[]): Promise<unknown>;
}

/** Nest injection token for the logs service's ingest side (LogIngestPort). */
export const LOG_INGEST = Symbol.for('fleet.hub.LogIngest');

/**
 * IngestSink on the hub-core services. Times: presence and reports are stamped on arrival and
 * also get the envelope time and (presence) the retained flag, from which DevicesService orders
 * them and dates a retained presence; progress is an event in the device's history, so it keeps the
 * device's time, but never later than its arrival (a device clock ahead must not write the
 * future); reports and acks are stamped on arrival.
 */
export class ServicesIngestSink implements IngestSink {
  constructor(
    private readonly devices: DeviceIngestPort,
    private readonly updates: ProgressIngestPort,
    private readonly telemetry: TelemetryIngestPort,
    private readonly logs: LogIngestPort,
  ) {}

  async recordPresence(deviceId: string, presence: Presence, meta: MessageMeta): Promise<void> {
    await this.devices.recordPresence(deviceId, presence, meta.receivedAt, {
      sentAt: meta.sentAt,
      retained: meta.retained,
    });
  }

  async recordReport(deviceId: string, report: Report, meta: MessageMeta): Promise<void> {
    await this.devices.recordReport(deviceId, report, meta.receivedAt, meta.sentAt);
  }

  async recordPresences(items: readonly StateItem<Presence>[]): Promise<void> {
    const writes = items.map((i): PresenceWrite => ({
      deviceId: i.deviceId,
      presence: i.body,
      at: i.meta.receivedAt,
      origin: { sentAt: i.meta.sentAt, retained: i.meta.retained },
    }));
    if (this.devices.recordPresences) await this.devices.recordPresences(writes);
    else for (const w of writes) await this.devices.recordPresence(w.deviceId, w.presence, w.at, w.origin);
  }

  async recordReports(items: readonly StateItem<Report>[]): Promise<void> {
    const writes = items.map((i): ReportWrite => ({
      deviceId: i.deviceId,
      report: i.body,
      at: i.meta.receivedAt,
      sentAt: i.meta.sentAt,
    }));
    if (this.devices.recordReports) await this.devices.recordReports(writes);
    else for (const w of writes) await this.devices.recordReport(w.deviceId, w.report, w.at, w.sentAt);
  }

  async recordProgress(deviceId: string, progress: Progress, meta: MessageMeta): Promise<void> {
    await this.updates.recordProgress(deviceId, progress, progressTime(meta));
  }

  async recordCommandAck(deviceId: string, ack: CommandAck, meta: MessageMeta): Promise<void> {
    await this.devices.recordCommandAck(deviceId, ack, meta.receivedAt);
  }

  async recordProgresses(items: readonly StateItem<Progress>[]): Promise<void> {
    const writes = items.map((i): ProgressWrite => ({
      deviceId: i.deviceId,
      progress: i.body,
      at: progressTime(i.meta),
    }));
    if (this.updates.recordProgresses) await this.updates.recordProgresses(writes);
    else for (const w of writes) await this.updates.recordProgress(w.deviceId, w.progress, w.at);
  }

  async recordCommandAcks(items: readonly StateItem<CommandAck>[]): Promise<void> {
    const writes = items.map((i): AckWrite => ({ deviceId: i.deviceId, ack: i.body, at: i.meta.receivedAt }));
    if (this.devices.recordCommandAcks) await this.devices.recordCommandAcks(writes);
    else for (const w of writes) await this.devices.recordCommandAck(w.deviceId, w.ack, w.at);
  }

  async insertTelemetry(rows: readonly TelemetryRow[]): Promise<void> {
    if (this.telemetry.ingestRows) await this.telemetry.ingestRows(rows);
    else
      await this.telemetry.ingestBatch(
        rows.map(({ deviceId, ...sample }) => ({ deviceId, samples: [sample] })),
      );
  }

  async insertLogs(rows: readonly LogRow[]): Promise<void> {
    await this.logs.ingestBatch([...rows]);
  }
}

/** Progress keeps the device's time, capped at its arrival (see the class comment). */
function progressTime(meta: MessageMeta): Date {
  return meta.sentAt.getTime() < meta.receivedAt.getTime() ? meta.sentAt : meta.receivedAt;
}

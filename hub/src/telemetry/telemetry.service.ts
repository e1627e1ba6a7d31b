import { Inject, Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import type { TelemetrySample } from '@fleet/protocol';
import { HUB_CONFIG, type HubConfig } from '../config/hub-config.js';
import { EventBus } from '../events/event-bus.js';
import { MetricsRegistry, type Counter } from '../metrics/metrics.registry.js';
import { TelemetryRepository } from './telemetry.repository.js';
import type { TelemetryBatchItem, TelemetryPoint, TelemetryRow } from './telemetry.types.js';

const TELEMETRY_RETENTION_LOCK = 0x666c01;
/** At most one live `device.telemetry` event per device in this interval (dashboard charts). */
export const TELEMETRY_EVENT_INTERVAL_MS = 5_000;

@Injectable()
export class TelemetryService implements OnApplicationShutdown {
  private readonly log = new Logger('TelemetryService');
  private readonly rows: Counter;
  private readonly deleted: Counter;
  private timer: NodeJS.Timeout | null = null;
  /** Device id → when its last live event left (epoch ms). Pruned as it grows. */
  private readonly lastEvent = new Map<string, number>();

  constructor(
    @Inject(TelemetryRepository) private readonly repo: TelemetryRepository,
    @Inject(HUB_CONFIG) private readonly config: HubConfig,
    @Inject(MetricsRegistry) metrics: MetricsRegistry,
    @Inject(EventBus) private readonly events: EventBus,
  ) {
    this.rows = metrics.counter('fleet_hub_telemetry_rows_total', 'Telemetry samples written.');
    this.deleted = metrics.counter(
      'fleet_hub_telemetry_retention_deleted_total',
      'Telemetry samples deleted by retention.',
    );
  }

  /**
   * Ingest side: writes many devices' samples in one statement. The caller (the ingest queue)
   * batches and applies backpressure; the device ids must be authenticated ones (the topic's).
   * Returns the number of rows written (duplicates are skipped).
   */
  async ingestBatch(batch: TelemetryBatchItem[]): Promise<number> {
    return this.ingestRows(
      batch.flatMap(({ deviceId, samples }) => samples.map((s) => ({ deviceId, ...s }))),
    );
  }

  /** ingestBatch for rows that each carry their device id, as ingest's batch queue hands them. */
  async ingestRows(rows: readonly TelemetryRow[]): Promise<number> {
    const n = await this.repo.insertRows(rows);
    this.rows.inc({}, n);
    this.publishLiveSamples(rows);
    return n;
  }

  /**
   * Live `device.telemetry` events for the dashboard's charts: the newest sample of each device
   * in the rows, at most one per device every TELEMETRY_EVENT_INTERVAL_MS. The fleet lookup
   * (for the stream's fleet filter) runs after the write and off the ingest path: events are
   * notifications, and a failed lookup only costs this event.
   */
  private publishLiveSamples(rows: readonly TelemetryRow[], now = Date.now()): void {
    const newest = new Map<string, TelemetryRow>();
    for (const row of rows) {
      const last = this.lastEvent.get(row.deviceId);
      if (last !== undefined && now - last < TELEMETRY_EVENT_INTERVAL_MS) continue;
      const seen = newest.get(row.deviceId);
      if (!seen || Date.parse(row.time) > Date.parse(seen.time)) newest.set(row.deviceId, row);
    }
    if (newest.size === 0) return;
    const samples = new Map<string, TelemetrySample>();
    for (const [deviceId, { deviceId: _, ...sample }] of newest) samples.set(deviceId, sample);
    this.publishNewest(samples, now);
  }

  private publishNewest(newest: Map<string, TelemetrySample>, now: number): void {
    if (newest.size === 0) return;
    for (const id of newest.keys()) this.lastEvent.set(id, now);
    if (this.lastEvent.size > 50_000) {
      for (const [id, at] of this.lastEvent)
        if (now - at >= TELEMETRY_EVENT_INTERVAL_MS) this.lastEvent.delete(id);
    }
    this.repo.fleetsOf([...newest.keys()]).then(
      (fleets) => {
        for (const [deviceId, sample] of newest) {
          const fleetId = fleets.get(deviceId);
          if (!fleetId) continue; // unknown or decommissioned: nothing to show
          this.events.publish({
            type: 'device.telemetry',
            scope: 'telemetry',
            minRole: 'viewer',
            deviceId,
            fleetId,
            data: { sample },
          });
        }
      },
      (e: Error) => this.log.warn(`live telemetry events skipped: ${e.message}`),
    );
  }

  query(deviceId: string, from: Date, to: Date, bucketSeconds: number): Promise<TelemetryPoint[]> {
    return this.repo.query(deviceId, from, to, bucketSeconds);
  }

  /** Deletes samples past the retention; null when another replica is doing it. */
  async runRetention(now = new Date()): Promise<number | null> {
    const before = new Date(now.getTime() - this.config.telemetryRetentionDays * 86_400_000);
    const n = await this.repo.deleteBefore(before, TELEMETRY_RETENTION_LOCK);
    if (n !== null) {
      this.deleted.inc({}, n);
      if (n > 0) this.log.log(`retention deleted ${n} telemetry samples older than ${before.toISOString()}`);
    }
    return n;
  }

  /** Starts the hourly retention job (main.ts; tests call runRetention directly). */
  startRetention(intervalMs = 3_600_000): void {
    if (this.timer) return;
    const run = (): void =>
      void this.runRetention().catch((e: Error) =>
        this.log.error(`telemetry retention failed: ${e.message}`),
      );
    this.timer = setInterval(run, intervalMs);
    this.timer.unref();
    run();
  }

  onApplicationShutdown(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}

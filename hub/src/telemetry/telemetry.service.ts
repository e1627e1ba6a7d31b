import { Inject, Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import { HUB_CONFIG, type HubConfig } from '../config/hub-config.js';
import { MetricsRegistry, type Counter } from '../metrics/metrics.registry.js';
import { TelemetryRepository } from './telemetry.repository.js';
import type { TelemetryBatchItem, TelemetryPoint } from './telemetry.types.js';

const TELEMETRY_RETENTION_LOCK = 0x666c01;

@Injectable()
export class TelemetryService implements OnApplicationShutdown {
  private readonly log = new Logger('TelemetryService');
  private readonly rows: Counter;
  private readonly deleted: Counter;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    @Inject(TelemetryRepository) private readonly repo: TelemetryRepository,
    @Inject(HUB_CONFIG) private readonly config: HubConfig,
    @Inject(MetricsRegistry) metrics: MetricsRegistry,
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
    const n = await this.repo.insertBatch(batch);
    this.rows.inc({}, n);
    return n;
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

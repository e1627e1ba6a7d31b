import { Inject, Injectable, Logger, type OnApplicationShutdown } from '@nestjs/common';
import { HUB_CONFIG, type HubConfig } from '../config/hub-config.js';
import { EventBus } from '../events/event-bus.js';
import { MetricsRegistry, type Counter } from '../metrics/metrics.registry.js';
import { LogsRepository } from './logs.repository.js';
import type { LogRow, LogQuery, StoredLogLine } from './logs.types.js';

const LOG_RETENTION_LOCK = 0x666c02;

@Injectable()
export class LogsService implements OnApplicationShutdown {
  private readonly log = new Logger('LogsService');
  private readonly rows: Counter;
  private readonly deleted: Counter;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    @Inject(LogsRepository) private readonly repo: LogsRepository,
    @Inject(EventBus) private readonly events: EventBus,
    @Inject(HUB_CONFIG) private readonly config: HubConfig,
    @Inject(MetricsRegistry) metrics: MetricsRegistry,
  ) {
    this.rows = metrics.counter('fleet_hub_log_lines_total', 'Device log lines stored.');
    this.deleted = metrics.counter(
      'fleet_hub_log_retention_deleted_total',
      'Log lines deleted by retention.',
    );
  }

  /**
   * Ingest side: stores many devices' lines in one statement and forwards them to live
   * followers (`device.logs` events). Device ids must be the authenticated ones.
   */
  async ingestBatch(rows: readonly LogRow[]): Promise<number> {
    const n = await this.repo.insertBatch(rows);
    this.rows.inc({}, n);
    const byDevice = new Map<string, Array<Omit<LogRow, 'deviceId'>>>();
    for (const { deviceId, ...line } of rows) {
      let lines = byDevice.get(deviceId);
      if (!lines) byDevice.set(deviceId, (lines = []));
      lines.push(line);
    }
    for (const [deviceId, lines] of byDevice)
      this.events.publish({
        type: 'device.logs',
        scope: 'logs',
        minRole: 'viewer',
        deviceId,
        data: { lines },
      });
    return n;
  }

  query(q: LogQuery): Promise<StoredLogLine[]> {
    return this.repo.query(q);
  }

  async runRetention(now = new Date()): Promise<number | null> {
    const before = new Date(now.getTime() - this.config.logRetentionDays * 86_400_000);
    const n = await this.repo.deleteBefore(before, LOG_RETENTION_LOCK);
    if (n) {
      this.deleted.inc({}, n);
      this.log.log(`retention deleted ${n} log lines older than ${before.toISOString()}`);
    }
    return n;
  }

  startRetention(intervalMs = 3_600_000): void {
    if (this.timer) return;
    const run = (): void =>
      void this.runRetention().catch((e: Error) => this.log.error(`log retention failed: ${e.message}`));
    this.timer = setInterval(run, intervalMs);
    this.timer.unref();
    run();
  }

  onApplicationShutdown(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}

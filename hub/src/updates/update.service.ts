import { Injectable, Logger, Inject } from '@nestjs/common';
import type { Progress } from '@fleet/protocol';
import { z } from 'zod';
import { decodeCursor, encodeCursor, type Page } from '../common/validation.js';
import { EventBus } from '../events/event-bus.js';
import { MetricsRegistry, type Counter } from '../metrics/metrics.registry.js';
import { UpdateRepository, type ProgressWrite } from './update.repository.js';
import type { UpdateEvent } from './update.types.js';

@Injectable()
export class UpdatesService {
  private readonly log = new Logger('UpdatesService');
  private readonly refusedMessages: Counter;

  constructor(
    @Inject(UpdateRepository) private readonly repo: UpdateRepository,
    @Inject(EventBus) private readonly events: EventBus,
    @Inject(MetricsRegistry) metrics: MetricsRegistry,
  ) {
    // The counter DevicesService registers too (the registry returns the one series).
    this.refusedMessages = metrics.counter(
      'fleet_hub_refused_device_messages_total',
      'Device state messages the database cannot hold (text with a NUL character), logged and dropped.',
    );
  }

  /** Ingest side: one Progress message. Returns false (dropped) for an unknown device. */
  async recordProgress(deviceId: string, progress: Progress, at: Date): Promise<boolean> {
    if (!/^[0-9a-f-]{36}$/i.test(deviceId)) return false;
    const { known, fleetId } = await this.repo.record(deviceId, progress, at);
    this.stored(deviceId, progress, known, fleetId);
    return known;
  }

  /**
   * `recordProgress` for many messages at once (ingest's batches, decision 0092): one
   * transaction, then the same event (or warning) per message, in item order. A device may
   * appear several times; its messages apply in item order. A message the database cannot
   * hold (text with a NUL character) is left out with a logged error (the others are stored).
   * Returns, per item, whether it was stored.
   */
  async recordProgresses(items: readonly ProgressWrite[]): Promise<boolean[]> {
    const stored = items.map(() => false);
    const writes: Array<{ index: number } & ProgressWrite> = [];
    for (const [index, item] of items.entries()) {
      if (!/^[0-9a-f-]{36}$/i.test(item.deviceId)) continue; // as recordProgress: dropped silently
      // Cast to uuid by Postgres, which would fail the whole batch: such an id (dashes in odd
      // places) takes the one-message path, with its error handling, alone.
      if (!UUID.test(item.deviceId))
        stored[index] = await this.recordProgress(item.deviceId, item.progress, item.at);
      else if (hasNul(item.progress)) {
        this.refusedMessages.inc({ kind: 'progress' });
        this.log.error(
          `dropped progress from device ${item.deviceId}: a text field contains a NUL character (U+0000)`,
        );
      } else writes.push({ index, ...item });
    }
    const results = await this.repo.recordMany(writes);
    results.forEach(({ known, fleetId }, k) => {
      const { index, deviceId, progress } = writes[k]!;
      this.stored(deviceId, progress, known, fleetId);
      stored[index] = known;
    });
    return stored;
  }

  /** After a message was stored or found to be from an unknown device: its event, or a warning. */
  private stored(deviceId: string, progress: Progress, known: boolean, fleetId: string | null): void {
    if (!known) {
      this.log.warn(`dropped progress from unknown or decommissioned device ${deviceId}`);
      return;
    }
    this.events.publish({
      type: 'device.progress',
      scope: 'devices',
      minRole: 'viewer',
      deviceId,
      ...(fleetId ? { fleetId } : {}),
      data: {
        updateId: progress.updateId,
        status: progress.status,
        state: progress.state,
        percent: progress.percent,
        reason: progress.reason ?? null,
        release: progress.revision.version,
      },
    });
  }

  async list(deviceId: string, limit: number, cursor: string | undefined): Promise<Page<UpdateEvent>> {
    const beforeId = cursor
      ? BigInt(decodeCursor(z.object({ id: z.string().regex(/^\d+$/) }), cursor).id)
      : null;
    const rows = await this.repo.list(deviceId, limit + 1, beforeId);
    const items = rows.slice(0, limit);
    const last = items.at(-1);
    return { items, nextCursor: rows.length > limit && last ? encodeCursor({ id: last.id }) : null };
  }
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Whether a text field holds U+0000, which Postgres text and jsonb cannot (protocol's schemas
 * allow it): in a batch it would fail every message's statement.
 */
function hasNul(p: Progress): boolean {
  return [p.updateId, p.revision.version, p.revision.digest, p.reason, p.message, p.failedBootLog].some((t) =>
    t?.includes('\u0000'),
  );
}

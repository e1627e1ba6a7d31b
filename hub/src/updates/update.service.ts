import { Injectable, Logger, Inject } from '@nestjs/common';
import type { Progress } from '@fleet/protocol';
import { z } from 'zod';
import { decodeCursor, encodeCursor, type Page } from '../common/validation.js';
import { EventBus } from '../events/event-bus.js';
import { UpdateRepository } from './update.repository.js';
import type { UpdateEvent } from './update.types.js';

@Injectable()
export class UpdatesService {
  private readonly log = new Logger('UpdatesService');

  constructor(
    @Inject(UpdateRepository) private readonly repo: UpdateRepository,
    @Inject(EventBus) private readonly events: EventBus,
  ) {}

  /** Ingest side: one Progress message. Returns false (dropped) for an unknown device. */
  async recordProgress(deviceId: string, progress: Progress, at: Date): Promise<boolean> {
    if (!/^[0-9a-f-]{36}$/i.test(deviceId)) return false;
    const { known, fleetId } = await this.repo.record(deviceId, progress, at);
    if (!known) {
      this.log.warn(`dropped progress from unknown or decommissioned device ${deviceId}`);
      return false;
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
    return true;
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

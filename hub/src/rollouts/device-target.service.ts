import { randomUUID } from 'node:crypto';
import { Inject, Injectable, Logger } from '@nestjs/common';
import type { MessageBodyInput } from '@fleet/protocol';
import { HUB_CONFIG, type HubConfig } from '../config/hub-config.js';
import { ConfigVarRepository } from '../config-vars/config-var.repository.js';
import { DevicePublisher } from '../mqtt/device-publisher.js';
import { ReleasesService } from '../releases/release.service.js';
import type { Release } from '../releases/release.types.js';
import { DeviceTargetRepository, type DeviceTargetRecord } from './device-target.repository.js';

/**
 * Targets in flight to the broker at once (each waits for its PUBACK): a whole engine batch. With
 * 64, a batch of 500 took 8 PUBACK round trips and its last target went out up to 1.3 s after the
 * decision at 10k devices (measured: docs/rollouts.md, Benchmark).
 */
const PUBLISH_CONCURRENCY = 500;

export interface TargetOptions {
  updateId: string;
  rolloutId: string | null;
  force: boolean;
  bakeSeconds: number;
}

/**
 * Builds and publishes a device's retained target: the signed release, where to fetch objects,
 * the device's configuration (fleet + device variables) with its version, the fleet's maintenance
 * window. Every publish is recorded, so the hub can say what each device was told, publish it
 * again after an embedded broker restart, and re-send it when only configuration changes.
 */
@Injectable()
export class DeviceTargetService {
  private readonly log = new Logger('DeviceTargets');
  /** Releases are immutable: a manifest fetched once stays valid (a cache, never a lock). */
  private readonly releases = new Map<string, Release>();

  constructor(
    @Inject(HUB_CONFIG) private readonly config: HubConfig,
    @Inject(DevicePublisher) private readonly publisher: DevicePublisher,
    @Inject(ReleasesService) private readonly releaseService: ReleasesService,
    @Inject(ConfigVarRepository) private readonly vars: ConfigVarRepository,
    @Inject(DeviceTargetRepository) private readonly repo: DeviceTargetRepository,
  ) {}

  async release(id: string): Promise<Release> {
    const hit = this.releases.get(id);
    if (hit) return hit;
    const r = await this.releaseService.get(id);
    this.releases.set(id, r);
    return r;
  }

  get objectBaseUrl(): string {
    return `${this.config.publicUrl.replace(/\/$/, '')}/api/v1/objects`;
  }

  async build(
    deviceId: string,
    fleetId: string,
    release: Release,
    o: TargetOptions,
  ): Promise<MessageBodyInput<'target'>> {
    const [{ config, version }, window] = await Promise.all([
      this.vars.effective(deviceId, fleetId),
      this.vars.window(fleetId),
    ]);
    return {
      updateId: o.updateId,
      release: release.manifest,
      objectBaseUrl: this.objectBaseUrl,
      config,
      configVersion: version,
      strategy: 'stop-start',
      ...(window ? { window } : {}),
      force: o.force,
      bakeSeconds: o.bakeSeconds,
      ...(o.rolloutId ? { rolloutId: o.rolloutId } : {}),
    };
  }

  /** Publishes (QoS 1, retained) and records the target; rejects when the broker refuses. */
  async publish(
    deviceId: string,
    fleetId: string,
    releaseId: string,
    o: TargetOptions,
  ): Promise<DeviceTargetRecord> {
    const release = await this.release(releaseId);
    const target = await this.build(deviceId, fleetId, release, o);
    await this.publisher.publishTarget(deviceId, target);
    const record: DeviceTargetRecord = {
      deviceId,
      releaseId,
      updateId: o.updateId,
      rolloutId: o.rolloutId,
      configVersion: target.configVersion ?? 0,
      force: o.force,
      bakeSeconds: o.bakeSeconds,
      publishedAt: new Date(),
    };
    await this.repo.record(record);
    return record;
  }

  /**
   * Publishes the targets of many devices of one fleet to one release: configuration and window
   * read once for the batch, publishes in parallel (each waits for its PUBACK), one statement to
   * record them. Rejects if any publish fails (the caller's transaction then rolls back).
   */
  async publishMany(
    fleetId: string,
    releaseId: string,
    items: Array<{ deviceId: string; updateId: string }>,
    o: Omit<TargetOptions, 'updateId'>,
  ): Promise<void> {
    if (items.length === 0) return;
    const release = await this.release(releaseId);
    const [configs, window] = await Promise.all([
      this.vars.effectiveMany(
        items.map((i) => i.deviceId),
        fleetId,
      ),
      this.vars.window(fleetId),
    ]);
    const records: DeviceTargetRecord[] = [];
    const queue = [...items];
    const worker = async () => {
      for (let item = queue.shift(); item; item = queue.shift()) {
        const c = configs.get(item.deviceId) ?? { config: {}, version: 0 };
        await this.publisher.publishTarget(item.deviceId, {
          updateId: item.updateId,
          release: release.manifest,
          objectBaseUrl: this.objectBaseUrl,
          config: c.config,
          configVersion: c.version,
          strategy: 'stop-start',
          ...(window ? { window } : {}),
          force: o.force,
          bakeSeconds: o.bakeSeconds,
          ...(o.rolloutId ? { rolloutId: o.rolloutId } : {}),
        });
        records.push({
          deviceId: item.deviceId,
          releaseId,
          updateId: item.updateId,
          rolloutId: o.rolloutId,
          configVersion: c.version,
          force: o.force,
          bakeSeconds: o.bakeSeconds,
          publishedAt: new Date(),
        });
      }
    };
    await Promise.all(Array.from({ length: Math.min(PUBLISH_CONCURRENCY, items.length) }, worker));
    await this.repo.recordMany(records);
  }

  /** Takes the retained target away (a device that never started must not start). */
  async clear(deviceId: string): Promise<void> {
    await this.publisher.clearTarget(deviceId);
    await this.repo.remove(deviceId);
  }

  /**
   * Configuration or window changed: every touched device gets its current target again with
   * the new configuration, under a new update id (a new desired state). A device never targeted
   * by this hub gets the release it reports running, when the hub knows it; the others get their
   * configuration with their first release. Returns how many were re-sent.
   */
  async republish(
    deviceIds: string[],
    onNewUpdateId?: (deviceId: string, oldId: string, newId: string) => Promise<void>,
  ): Promise<{ sent: number; skipped: number }> {
    const known = new Map((await this.repo.findMany(deviceIds)).map((t) => [t.deviceId, t]));
    let sent = 0;
    let skipped = 0;
    for (const id of deviceIds) {
      const home = await this.repo.deviceHome(id);
      const prev = known.get(id);
      const releaseId = prev?.releaseId ?? home?.currentReleaseId ?? null;
      if (!home || !releaseId) {
        skipped++;
        continue;
      }
      const updateId = `c-${randomUUID()}`;
      try {
        await this.publish(id, home.fleetId, releaseId, {
          updateId,
          rolloutId: prev?.rolloutId ?? null,
          force: prev?.force ?? false,
          bakeSeconds: prev?.bakeSeconds ?? 30,
        });
        if (prev && onNewUpdateId) await onNewUpdateId(id, prev.updateId, updateId);
        sent++;
      } catch (error) {
        this.log.warn(`could not re-send the target of ${id}: ${(error as Error).message}`);
        skipped++;
      }
    }
    return { sent, skipped };
  }

  /**
   * Publishes every recorded target again, unchanged (same update id): after a restart of the
   * embedded broker, whose retained messages live in memory only.
   */
  async republishAll(signal?: AbortSignal): Promise<number> {
    let after: string | null = null;
    let n = 0;
    for (;;) {
      const page = await this.repo.page(after, 500);
      for (const t of page) {
        if (signal?.aborted) return n;
        const home = await this.repo.deviceHome(t.deviceId);
        if (!home) continue;
        const release = await this.release(t.releaseId);
        const target = await this.build(t.deviceId, home.fleetId, release, t);
        await this.publisher.publishTarget(t.deviceId, target);
        n++;
      }
      if (page.length < 500) return n;
      after = page.at(-1)?.deviceId ?? null;
    }
  }
}

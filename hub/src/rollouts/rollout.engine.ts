import { randomUUID } from 'node:crypto';
import {
  Inject,
  Injectable,
  Logger,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import { compareSemver, ReportedStatus } from '@fleet/protocol';
import type { Subscription } from 'rxjs';
import { AuditService } from '../audit/audit.service.js';
import { SYSTEM_ACTOR } from '../auth/principal.js';
import { HUB_CONFIG, type HubConfig } from '../config/hub-config.js';
import { EventBus } from '../events/event-bus.js';
import { DeviceTargetService } from './device-target.service.js';
import {
  countPhase,
  decidePhase,
  dispatchBudget,
  DOWNLOADING,
  healthVerdict,
  IN_FLIGHT,
  nextDeviceState,
  STATUS_TO_DEVICE_STATE,
  type RolloutDeviceState,
} from './rollout.model.js';
import { RolloutRepository, type DeviceChange, type RolloutTx } from './rollout.repository.js';
import type { Rollout } from './rollout.types.js';

/** Engine cadence: a step per rollout at least this often; device messages wake it sooner. */
export const ROLLOUT_TICK_MS = 1_000;
/** Targets selected, marked and published together (one set of queries per batch). */
const DISPATCH_BATCH = 500;
/**
 * A step stops starting dispatch batches after this long: the step holds the rollout's lock,
 * which operator actions wait for, and device progress is synced only at the top of a step.
 */
const DISPATCH_STEP_MS = 3_000;

export interface StepResult {
  changed: boolean;
  dispatched: number;
}

/**
 * The rollout engine. Each replica runs this loop; the only coordination is Postgres: a step
 * works on one rollout while holding its row lock (`FOR UPDATE SKIP LOCKED`), so two replicas
 * never step the same rollout at once, and a replica that dies mid-step loses its transaction
 * (and lock) with it: the other replica picks the rollout up at its next tick. No state is kept
 * in memory between steps except an immutable release cache.
 */
@Injectable()
export class RolloutEngine implements OnApplicationBootstrap, OnApplicationShutdown {
  private readonly log = new Logger('RolloutEngine');
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;
  private again = false;
  private dueAt = 0;
  private wake: Subscription | undefined;
  private lastError = '';
  /**
   * Per rollout, in this replica only: when its last full sync ran, and the highest progress
   * event id at the start of its last sync. Only a hint (see `step`): a replica without it, or
   * one whose hint is a tick old, syncs every device.
   */
  private readonly syncMarks = new Map<string, { fullAt: number; eventId: bigint }>();

  constructor(
    @Inject(RolloutRepository) private readonly repo: RolloutRepository,
    @Inject(DeviceTargetService) private readonly targets: DeviceTargetService,
    @Inject(AuditService) private readonly audit: AuditService,
    @Inject(EventBus) private readonly events: EventBus,
    @Inject(HUB_CONFIG) private readonly config: HubConfig,
  ) {}

  onApplicationBootstrap(): void {
    this.stopped = false;
    this.schedule(ROLLOUT_TICK_MS);
    // Device messages arrive at whichever replica consumed them; that replica steps sooner.
    this.wake = this.events.events.subscribe((e) => {
      if (e.type === 'device.progress' || e.type === 'device.report') this.schedule(50);
    });
    if (!this.config.mqttUrl) {
      // The embedded broker keeps retained targets in memory only: publish them again.
      void this.targets
        .republishAll()
        .then((n) => n > 0 && this.log.log(`re-published ${n} retained targets to the embedded broker`))
        .catch((e: Error) => this.log.warn(`re-publishing targets failed: ${e.message}`));
    }
  }

  async onApplicationShutdown(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    this.wake?.unsubscribe();
    await this.running;
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    if (this.running) {
      // Woken mid-step: step again right after, so a progress message is never left waiting a tick.
      this.again = this.again || ms < ROLLOUT_TICK_MS;
      return;
    }
    // Never push a pending step later: a steady stream of device messages must not starve it.
    if (this.timer && this.dueAt <= Date.now() + ms) return;
    clearTimeout(this.timer);
    this.dueAt = Date.now() + ms;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.running = this.tick()
        .catch((e: Error) => {
          // Logged once per distinct error: a database that is away must not flood the log.
          if (e.message !== this.lastError) this.log.error(`rollout tick failed: ${e.message}`);
          this.lastError = e.message;
        })
        .finally(() => {
          this.running = undefined;
          const again = this.again;
          this.again = false;
          this.schedule(again ? 50 : ROLLOUT_TICK_MS);
        });
    }, ms);
    this.timer.unref();
  }

  /** One pass over every rollout with work left; rollouts locked by another replica are skipped. */
  async tick(): Promise<void> {
    const ids = await this.repo.sweepIds();
    for (const id of this.syncMarks.keys()) if (!ids.includes(id)) this.syncMarks.delete(id);
    for (const id of ids) {
      if (this.stopped) return;
      const result = await this.repo.withLockedRollout(id, (tx, r) => this.step(tx, r));
      if (result?.changed) await this.publishProgress(id);
    }
    this.lastError = '';
  }

  /**
   * Everything the engine does for one rollout, under its lock.
   *
   * Full or quick: a step at least ROLLOUT_TICK_MS after the rollout's last full one is full
   * (join, every device synced, health gate); the steps between, woken by progress (every
   * 50 ms at 10k devices), sync only the devices with progress events stored since the last
   * step's start, found by event id: the full queries visit every device of the rollout and
   * took about half of Postgres's time at 10k (docs/rollouts.md). What a quick step leaves out
   * waits at most a tick: new devices joining, success seen only in a report (no final
   * progress), an event whose transaction committed after a later one's, the health gate
   * (which matters while a phase bakes: bakes are whole seconds).
   */
  async step(tx: RolloutTx, r: Rollout): Promise<StepResult> {
    const release = await this.targets.release(r.releaseId);
    const digest = release.manifestDigest;
    const lastPhase = r.phases.length - 1;
    let changed = false;
    const mark = this.syncMarks.get(r.id);
    const startedAt = Date.now();
    const full = mark === undefined || startedAt - mark.fullAt >= ROLLOUT_TICK_MS;
    // Read before the sync: an event stored meanwhile is synced now or by the next step.
    const eventId = await tx.lastEventId();
    this.syncMarks.set(r.id, { fullAt: full ? startedAt : mark!.fullAt, eventId });

    // New devices matching the target join the last phase (hawkBit's dynamic groups): they wait
    // for the canary phases, and in a completed rollout they are dispatched at once.
    if (full && (r.state === 'running' || r.state === 'paused' || r.state === 'completed')) {
      changed = (await tx.join(r, lastPhase)) > 0 || changed;
    }

    // Device facts (progress events, reports) → device states, through the transition table.
    const changes: DeviceChange[] = [];
    const syncOpts = full ? {} : { eventsAfter: mark!.eventId };
    for (const row of await tx.syncRows(r.id, [...IN_FLIGHT, 'timed-out', 'failed'], syncOpts)) {
      let to: RolloutDeviceState | null = null;
      let reason: string | null | undefined;
      const status = row.eventStatus ? ReportedStatus.safeParse(row.eventStatus) : null;
      if (status?.success) {
        to = STATUS_TO_DEVICE_STATE[status.data];
        if (row.eventReason)
          reason = row.eventMessage ? `${row.eventReason}: ${row.eventMessage}` : row.eventReason;
      } else if (row.currentDigest === digest && row.state !== 'failed') {
        // The device reports the release as its committed revision though no final progress
        // arrived (lost, or applied out of order by another replica: the update state column
        // may hold a late-stored earlier step, so it is not consulted).
        to = 'succeeded';
      }
      const next = to ? nextDeviceState(row.state, to) : null;
      if (next || row.eventId !== null) {
        changes.push({
          deviceId: row.deviceId,
          state: next ?? row.state,
          ...(next && reason !== undefined ? { reason } : {}),
          ...(row.eventId !== null
            ? { lastEventId: row.eventId, lastProgressAt: row.eventAt ?? new Date() }
            : {}),
          finished: next !== null && !IN_FLIGHT.includes(next),
        });
        if (next) changed = true;
      }
    }

    // Hub-side health gate while the phase bakes: a device that reported success must keep
    // running the release without a crash loop or an unhealthy container.
    if (full && r.state === 'running') {
      for (const row of await tx.syncRows(r.id, ['succeeded'], { phase: r.currentPhase })) {
        const v = healthVerdict({
          releaseDigest: digest,
          currentDigest: row.currentDigest,
          failedRevisions: row.failedRevisions,
          containerStates: row.containerStates,
        });
        if (v.verdict === 'unhealthy') {
          changes.push({
            deviceId: row.deviceId,
            state: v.state,
            reason: `health after update: ${v.reason}`,
            finished: true,
          });
          changed = true;
        }
      }
    }

    // Rollback convergence: a device sent back is rolled back once it reports the old revision.
    if (full && r.state === 'rolled-back') {
      for (const row of await tx.syncRows(
        r.id,
        ['dispatched', 'downloading', 'installing', 'testing', 'succeeded', 'failed', 'timed-out'],
        { rollback: true },
      )) {
        if (
          row.previousDigest &&
          row.currentDigest === row.previousDigest &&
          nextDeviceState(row.state, 'rolled-back')
        ) {
          changes.push({
            deviceId: row.deviceId,
            state: 'rolled-back',
            reason: 'returned to its previous release',
            finished: true,
          });
          changed = true;
        }
      }
    }
    await tx.applyChanges(r.id, changes);

    if (r.state === 'running' || r.state === 'paused' || r.state === 'aborted') {
      changed = (await tx.timeOut(r)) > 0 || changed;
    }

    if (r.state === 'running') {
      const phase = r.phases[r.currentPhase];
      const decision = decidePhase({
        counts: countPhase(await tx.phaseStates(r.id, r.currentPhase)),
        thresholds: r,
        acknowledgedFailures: r.acknowledgedFailures,
        isLastPhase: r.currentPhase >= lastPhase,
        bakeSeconds: phase?.bakeSeconds ?? 0,
        bakeStartedAt: r.bakeStartedAt,
        now: new Date(),
      });
      switch (decision.kind) {
        case 'pause':
          await tx.setState(r.id, {
            state: 'paused',
            stateReason: `${decision.reason}: ${decision.message}`,
          });
          await this.audit.record(
            SYSTEM_ACTOR,
            'rollout.auto-pause',
            { type: 'rollout', id: r.id },
            { reason: decision.reason, message: decision.message, phase: r.currentPhase },
          );
          return { changed: true, dispatched: 0 };
        case 'start-bake':
          await tx.setState(r.id, { bakeStartedAt: new Date() });
          changed = true;
          break;
        case 'advance':
          await tx.setState(r.id, { currentPhase: r.currentPhase + 1, bakeStartedAt: null });
          await this.audit.record(
            SYSTEM_ACTOR,
            'rollout.phase.advance',
            { type: 'rollout', id: r.id },
            { from: r.currentPhase, to: r.currentPhase + 1 },
          );
          r = { ...r, currentPhase: r.currentPhase + 1 };
          changed = true;
          break;
        case 'complete':
          await tx.setState(r.id, {
            state: 'completed',
            stateReason: null,
            bakeStartedAt: null,
            finished: true,
          });
          await this.audit.record(SYSTEM_ACTOR, 'rollout.complete', { type: 'rollout', id: r.id }, {});
          return { changed: true, dispatched: 0 };
        case 'continue':
        case 'bake':
          break;
      }
    }

    let dispatched = 0;
    if (r.state === 'running' || r.state === 'completed') {
      dispatched = await this.dispatch(tx, r, r.state === 'completed' ? lastPhase : r.currentPhase);
    }
    if (r.state === 'rolled-back') dispatched = await this.sendBack(tx, r);
    return { changed: changed || dispatched > 0, dispatched };
  }

  /**
   * Sends targets to pending devices of the phases reached, under the parallel download cap, in
   * batches until the budget is spent or the step has dispatched for DISPATCH_STEP_MS: the sync
   * queries at the top of a step run over every device of the rollout, so they run once for
   * thousands of targets, not once per batch (measured: docs/rollouts.md, Benchmark).
   *
   * Per batch: the devices are marked dispatched, then their targets are published, inside the
   * step's transaction: if the replica dies before the commit the rows are still `pending` and
   * the other replica sends the same update ids again (the device de-duplicates by update id);
   * a commit without a publish cannot happen (a failed publish rolls the step back).
   */
  private async dispatch(tx: RolloutTx, r: Rollout, upToPhase: number): Promise<number> {
    let budget = dispatchBudget(r.maxParallel, await tx.countInStates(r.id, DOWNLOADING));
    const release = await this.targets.release(r.releaseId);
    const until = Date.now() + DISPATCH_STEP_MS;
    let n = 0;
    while (budget > 0 && !this.stopped) {
      const next = await tx.nextPending(r.id, upToPhase, Math.min(DISPATCH_BATCH, budget));
      if (next.length === 0) break;
      const refused: DeviceChange[] = [];
      const send: Array<{ deviceId: string; updateId: string }> = [];
      for (const d of next) {
        // Never send a revision that failed on the device (unless the operator forces it), nor
        // one it cannot run: the agent would refuse it anyway, and the hub knows why now.
        const problem =
          !r.force && d.failedRevisions.includes(release.manifestDigest)
            ? 'revision-failed-before: this release failed on the device before'
            : !release.compatibleBoards.includes(d.board)
              ? `board-mismatch: release is for ${release.compatibleBoards.join(', ')}, device is ${d.board}`
              : agentTooOld(d.agentVersion, release.manifest.minAgentVersion)
                ? `agent-too-old: release needs agent ${release.manifest.minAgentVersion}, device runs ${d.agentVersion}`
                : null;
        if (problem) refused.push({ deviceId: d.deviceId, state: 'failed', reason: problem, finished: true });
        else send.push({ deviceId: d.deviceId, updateId: d.updateId });
      }
      await tx.applyChanges(r.id, refused);
      await tx.markDispatchedMany(
        r.id,
        send.map((d) => d.deviceId),
      );
      await this.targets.publishMany(r.fleetId, r.releaseId, send, {
        rolloutId: r.id,
        force: r.force,
        bakeSeconds: r.deviceBakeSeconds,
      });
      n += next.length;
      budget -= send.length;
      if (Date.now() >= until) break;
    }
    return n;
  }

  /** Rollback: every device that got the release is sent its previous release (which it still stores). */
  private async sendBack(tx: RolloutTx, r: Rollout): Promise<number> {
    const byRelease = new Map<string, Array<{ deviceId: string; updateId: string }>>();
    for (const c of await tx.rollbackCandidates(r.id, DISPATCH_BATCH)) {
      if (!c.previousReleaseId) {
        await tx.markRollbackSent(r.id, c.deviceId, null, 'no earlier release known to the hub to return to');
        continue;
      }
      const group = byRelease.get(c.previousReleaseId) ?? [];
      group.push({ deviceId: c.deviceId, updateId: `rb-${randomUUID()}` });
      byRelease.set(c.previousReleaseId, group);
    }
    let n = 0;
    for (const [releaseId, group] of byRelease) {
      await this.targets.publishMany(r.fleetId, releaseId, group, {
        rolloutId: r.id,
        force: false,
        bakeSeconds: r.deviceBakeSeconds,
      });
      for (const g of group) await tx.markRollbackSent(r.id, g.deviceId, g.updateId, null);
      n += group.length;
    }
    return n;
  }

  async publishProgress(rolloutId: string): Promise<void> {
    const r = await this.repo.find(rolloutId);
    if (!r) return;
    const counts: Record<string, number> = {};
    for (const c of await this.repo.counts(rolloutId)) counts[c.state] = (counts[c.state] ?? 0) + c.n;
    this.events.publish({
      type: 'rollout.progress',
      scope: 'fleets',
      minRole: 'viewer',
      fleetId: r.fleetId,
      data: { rolloutId, state: r.state, stateReason: r.stateReason, currentPhase: r.currentPhase, counts },
    });
  }
}

function agentTooOld(agent: string, min: string): boolean {
  try {
    return compareSemver(agent, min) < 0;
  } catch {
    return true;
  }
}

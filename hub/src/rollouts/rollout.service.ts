import {
  ConflictException,
  Inject,
  Injectable,
  NotFoundException,
  UnprocessableEntityException,
} from '@nestjs/common';
import { compareSemver, manifestObjects } from '@fleet/protocol';
import { AuditService } from '../audit/audit.service.js';
import type { Actor } from '../auth/principal.js';
import { decodeCursor, encodeCursor, type Page } from '../common/validation.js';
import { FleetService } from '../fleets/fleet.service.js';
import type { Release } from '../releases/release.types.js';
import { z } from 'zod';
import { DeviceTargetService } from './device-target.service.js';
import type { ListRolloutDevicesQuery, ListRolloutsQuery, RolloutSpec } from './rollout.dto.js';
import { RolloutEngine } from './rollout.engine.js';
import {
  assignPhases,
  canRollout,
  countPhase,
  ROLLOUT_ACTIONS,
  type RolloutAction,
} from './rollout.model.js';
import { emptyCounts, RolloutRepository } from './rollout.repository.js';
import type {
  DeviceFacts,
  DryRunDevice,
  DryRunReport,
  Rollout,
  RolloutDetail,
  RolloutDevice,
} from './rollout.types.js';

const MUTABLE = ['maxFailurePercent', 'minSuccessPercent', 'maxParallel', 'deviceTimeoutSeconds'] as const;

@Injectable()
export class RolloutService {
  constructor(
    @Inject(RolloutRepository) private readonly repo: RolloutRepository,
    @Inject(FleetService) private readonly fleets: FleetService,
    @Inject(DeviceTargetService) private readonly targets: DeviceTargetService,
    @Inject(AuditService) private readonly audit: AuditService,
    @Inject(RolloutEngine) private readonly engine: RolloutEngine,
  ) {}

  private async resolve(
    spec: RolloutSpec,
  ): Promise<{ release: Release; fleetId: string; fleetName: string; devices: DeviceFacts[] }> {
    const fleet = await this.fleets.get(spec.fleet);
    let release: Release;
    try {
      release = await this.targets.release(spec.release);
    } catch (error) {
      if (error instanceof NotFoundException)
        throw new NotFoundException(`no release ${spec.release}; list them with \`hubctl releases ls\``);
      throw error;
    }
    const devices = await this.repo.matchingDevices(fleet.id, spec.tags, spec.deviceIds);
    return { release, fleetId: fleet.id, fleetName: fleet.name, devices };
  }

  async create(spec: RolloutSpec, actor: Actor): Promise<RolloutDetail> {
    const { release, fleetId, fleetName, devices } = await this.resolve(spec);
    if (release.yankedAt)
      throw new UnprocessableEntityException(
        `release ${release.version} was yanked (${release.yankReason ?? 'no reason given'}); it cannot be deployed`,
      );
    if (spec.name && (await this.repo.find(spec.name)))
      throw new ConflictException(
        `a rollout named ${spec.name} exists; pick another name or use \`hubctl apply\``,
      );
    const active = await this.repo.activeInFleet(fleetId);
    if (active) {
      throw new ConflictException(
        `fleet ${fleetName} already has a ${active.state} rollout (${active.name ?? active.id}); abort it or let it finish first`,
      );
    }
    const phases = assignPhases(spec.phases, devices.length);
    const r = await this.repo.create(
      {
        name: spec.name ?? null,
        releaseId: release.id,
        fleetId,
        tags: spec.tags,
        deviceIds: spec.deviceIds,
        phases: spec.phases,
        maxFailurePercent: spec.maxFailurePercent,
        minSuccessPercent: spec.minSuccessPercent,
        deviceTimeoutSeconds: spec.deviceTimeoutSeconds,
        maxParallel: spec.maxParallel,
        deviceBakeSeconds: spec.deviceBakeSeconds,
        force: spec.force,
        createdBy: actor.id,
      },
      devices.map((d, i) => ({ id: d.id, phase: phases[i] ?? 0 })),
    );
    await this.audit.record(
      actor,
      'rollout.create',
      { type: 'rollout', id: r.id },
      {
        release: release.version,
        fleet: fleetName,
        devices: devices.length,
        spec,
      },
    );
    await this.engine.publishProgress(r.id);
    return this.get(r.id);
  }

  /**
   * Declarative create-or-update by name (`hubctl apply`): an unchanged spec changes nothing;
   * thresholds, parallelism and the device deadline may change on a live rollout; release,
   * target and phases are fixed once created.
   */
  async apply(
    spec: RolloutSpec,
    actor: Actor,
  ): Promise<{ rollout: RolloutDetail; outcome: 'created' | 'updated' | 'unchanged' }> {
    if (!spec.name)
      throw new UnprocessableEntityException('apply needs a rollout name (metadata: name: in the file)');
    const existing = await this.repo.find(spec.name);
    if (!existing) return { rollout: await this.create(spec, actor), outcome: 'created' };
    const { release, fleetId } = await this.resolve(spec);
    const fixed: string[] = [];
    if (release.id !== existing.releaseId) fixed.push('release');
    if (fleetId !== existing.fleetId) fixed.push('fleet');
    if (!sameSet(spec.tags, existing.tags)) fixed.push('tags');
    if (!sameSet(spec.deviceIds, existing.deviceIds)) fixed.push('deviceIds');
    if (JSON.stringify(spec.phases) !== JSON.stringify(existing.phases)) fixed.push('phases');
    if (spec.deviceBakeSeconds !== existing.deviceBakeSeconds) fixed.push('deviceBakeSeconds');
    if (spec.force !== existing.force) fixed.push('force');
    if (fixed.length > 0) {
      throw new ConflictException(
        `rollout ${spec.name} exists with another ${fixed.join(', ')}; these are fixed once created: use a new name`,
      );
    }
    const changed = MUTABLE.filter((k) => spec[k] !== existing[k]);
    if (changed.length === 0) return { rollout: await this.get(existing.id), outcome: 'unchanged' };
    await this.repo.updateSettings(existing.id, {
      maxFailurePercent: spec.maxFailurePercent,
      minSuccessPercent: spec.minSuccessPercent,
      maxParallel: spec.maxParallel,
      deviceTimeoutSeconds: spec.deviceTimeoutSeconds,
    });
    await this.audit.record(
      actor,
      'rollout.update',
      { type: 'rollout', id: existing.id },
      Object.fromEntries(changed.map((k) => [k, { from: existing[k], to: spec[k] }])),
    );
    return { rollout: await this.get(existing.id), outcome: 'updated' };
  }

  async get(idOrName: string): Promise<RolloutDetail> {
    const r = await this.repo.find(idOrName);
    if (!r) throw new NotFoundException(`no rollout ${idOrName}`);
    return this.detail(r);
  }

  private async detail(r: Rollout): Promise<RolloutDetail> {
    const [release, fleet, rows] = await Promise.all([
      this.targets.release(r.releaseId),
      this.fleets.get(r.fleetId).catch(() => null),
      this.repo.counts(r.id),
    ]);
    const counts = emptyCounts();
    const phases = new Map<number, RolloutDetail['phaseCounts'][number]>();
    for (let i = 0; i < r.phases.length; i++) phases.set(i, { phase: i, total: 0, counts: emptyCounts() });
    for (const c of rows) {
      counts[c.state] += c.n;
      const p = phases.get(c.phase) ?? { phase: c.phase, total: 0, counts: emptyCounts() };
      p.total += c.n;
      p.counts[c.state] += c.n;
      phases.set(c.phase, p);
    }
    return {
      ...r,
      releaseVersion: release.version,
      fleetName: fleet?.name ?? r.fleetId,
      counts,
      phaseCounts: [...phases.values()].sort((a, b) => a.phase - b.phase),
    };
  }

  async list(q: ListRolloutsQuery): Promise<Page<RolloutDetail>> {
    const fleetId = q.fleet ? (await this.fleets.get(q.fleet)).id : undefined;
    const before = q.cursor
      ? new Date(decodeCursor(z.object({ at: z.iso.datetime() }), q.cursor).at)
      : undefined;
    const rows = await this.repo.list({ fleetId, state: q.state, limit: q.limit + 1, before });
    const items = await Promise.all(rows.slice(0, q.limit).map((r) => this.detail(r)));
    const last = items.at(-1);
    return {
      items,
      nextCursor: rows.length > q.limit && last ? encodeCursor({ at: last.createdAt.toISOString() }) : null,
    };
  }

  async devices(idOrName: string, q: ListRolloutDevicesQuery): Promise<Page<RolloutDevice>> {
    const r = await this.repo.find(idOrName);
    if (!r) throw new NotFoundException(`no rollout ${idOrName}`);
    const rows = await this.repo.devices(r.id, {
      state: q.state,
      limit: q.limit + 1,
      afterDeviceId: q.cursor,
    });
    const items = rows.slice(0, q.limit);
    return { items, nextCursor: rows.length > q.limit ? (items.at(-1)?.deviceId ?? null) : null };
  }

  /**
   * pause / resume / abort / rollback, through the rollout state table. The step waits for the
   * rollout's row lock, so it never interleaves with an engine step on any replica.
   */
  async act(idOrName: string, action: RolloutAction, actor: Actor, reason?: string): Promise<RolloutDetail> {
    const found = await this.repo.find(idOrName);
    if (!found) throw new NotFoundException(`no rollout ${idOrName}`);
    const to = ROLLOUT_ACTIONS[action].to;
    const outcome = await this.repo.withLockedRollout(
      found.id,
      async (tx, r) => {
        if (!canRollout(r.state, to)) return { refused: r.state };
        const details: Record<string, unknown> = { from: r.state, ...(reason ? { reason } : {}) };
        if (action === 'resume') {
          // Failures the operator has seen no longer count against the threshold.
          const failures = countPhase(await tx.phaseStates(r.id, r.currentPhase)).failures;
          await tx.setState(r.id, { state: 'running', stateReason: null, acknowledgedFailures: failures });
          details.acknowledgedFailures = failures;
        } else if (action === 'pause') {
          await tx.setState(r.id, {
            state: 'paused',
            stateReason: `paused by ${actor.email ?? actor.id}${reason ? `: ${reason}` : ''}`,
          });
        } else if (action === 'abort') {
          // Devices that were sent the target but have not started get their previous target
          // back (or none), and return to pending: an aborted rollout starts no new install.
          const withdrawn = await tx.notStarted(r.id);
          for (const w of withdrawn) {
            if (w.previousReleaseId) {
              await this.targets.publish(w.deviceId, r.fleetId, w.previousReleaseId, {
                updateId: `ab-${w.deviceId.slice(0, 8)}-${Date.now().toString(36)}`,
                rolloutId: null,
                force: false,
                bakeSeconds: r.deviceBakeSeconds,
              });
            } else {
              await this.targets.clear(w.deviceId);
            }
          }
          await tx.applyChanges(
            r.id,
            withdrawn.map((w) => ({
              deviceId: w.deviceId,
              state: 'pending' as const,
              reason: 'rollout aborted before the device started',
            })),
          );
          await tx.setState(r.id, { state: 'aborted', stateReason: reason ?? null, finished: true });
          details.withdrawn = withdrawn.length;
        } else {
          await tx.setState(r.id, { state: 'rolled-back', stateReason: reason ?? null, finished: true });
        }
        return { refused: null, details };
      },
      { wait: true },
    );
    if (!outcome) throw new NotFoundException(`no rollout ${idOrName}`);
    if (outcome.refused) {
      throw new ConflictException(`cannot ${action} a rollout that is ${outcome.refused}`);
    }
    await this.audit.record(
      actor,
      `rollout.${action}`,
      { type: 'rollout', id: found.id },
      outcome.details ?? {},
    );
    await this.engine.publishProgress(found.id);
    return this.get(found.id);
  }

  /**
   * What a rollout would do, per device: bytes it would download (release objects missing from
   * its reported inventory), whether its free space suffices, board and agent compatibility.
   */
  async dryRun(spec: RolloutSpec): Promise<DryRunReport> {
    const { release, fleetId, devices } = await this.resolve(spec);
    // The same object list the agent computes (one implementation, in protocol).
    const objects = manifestObjects(release.manifest);
    const rows: DryRunDevice[] = devices.map((d) => {
      const held = new Set(d.inventory.objects);
      const alreadyCurrent = d.currentRevisionDigest === release.manifestDigest;
      const missing = alreadyCurrent ? [] : objects.filter((o) => !held.has(o.digest));
      const downloadBytes = missing.reduce((n, o) => n + o.size, 0);
      const boardOk = release.compatibleBoards.includes(d.board);
      const agentOk = !agentTooOld(d.agentVersion, release.manifest.minAgentVersion);
      const spaceOk = d.inventory.freeBytes === null ? false : d.inventory.freeBytes >= downloadBytes;
      const failedBefore = d.failedRevisions.includes(release.manifestDigest) && !spec.force;
      const problems: string[] = [];
      if (!boardOk) problems.push(`board ${d.board} is not among ${release.compatibleBoards.join(', ')}`);
      if (!agentOk)
        problems.push(`agent ${d.agentVersion} is older than ${release.manifest.minAgentVersion}`);
      if (d.inventory.freeBytes === null) problems.push('no inventory reported yet: free space unknown');
      else if (!spaceOk) problems.push(`needs ${downloadBytes} bytes, ${d.inventory.freeBytes} free`);
      if (failedBefore)
        problems.push('this release failed on the device before (deploy with force to retry)');
      return {
        deviceId: d.id,
        name: d.name,
        board: d.board,
        agentVersion: d.agentVersion,
        online: d.online,
        currentRelease: d.currentRelease,
        downloadBytes,
        missingObjects: missing.length,
        freeBytes: d.inventory.freeBytes,
        spaceOk,
        boardOk,
        agentOk,
        alreadyCurrent,
        failedBefore,
        eligible: boardOk && agentOk && spaceOk && !failedBefore,
        problems,
      };
    });
    const phaseSizes = new Array<number>(spec.phases.length).fill(0);
    for (const p of assignPhases(spec.phases, devices.length)) phaseSizes[p] = (phaseSizes[p] ?? 0) + 1;
    return {
      release: {
        id: release.id,
        version: release.version,
        sequence: release.sequence,
        bytes: objects.reduce((n, o) => n + o.size, 0),
      },
      fleetId,
      summary: {
        devices: rows.length,
        eligible: rows.filter((r) => r.eligible).length,
        downloadBytes: rows.filter((r) => r.eligible).reduce((n, r) => n + r.downloadBytes, 0),
        alreadyCurrent: rows.filter((r) => r.alreadyCurrent).length,
        insufficientSpace: rows.filter((r) => r.freeBytes !== null && !r.spaceOk).length,
        incompatibleBoard: rows.filter((r) => !r.boardOk).length,
        agentTooOld: rows.filter((r) => !r.agentOk).length,
        failedBefore: rows.filter((r) => r.failedBefore).length,
        unknownInventory: rows.filter((r) => r.freeBytes === null).length,
        phaseSizes,
      },
      devices: rows,
    };
  }
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && [...a].sort().join('\n') === [...b].sort().join('\n');
}

function agentTooOld(agent: string, min: string): boolean {
  try {
    return compareSemver(agent, min) < 0;
  } catch {
    return true;
  }
}

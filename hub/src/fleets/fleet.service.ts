import { ConflictException, Injectable, NotFoundException, Inject } from '@nestjs/common';
import { AuditService } from '../audit/audit.service.js';
import type { Actor } from '../auth/principal.js';
import { newSecret, sha256Hex } from '../common/sha256.js';
import { EventBus } from '../events/event-bus.js';
import type { CreateClaimTokenRequest, CreateFleetRequest } from './fleet.dto.js';
import { FleetRepository } from './fleet.repository.js';
import type { ClaimToken, Fleet } from './fleet.types.js';

/** Claim tokens are recognisable by this prefix. */
export const CLAIM_TOKEN_PREFIX = 'fleetclaim_';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

@Injectable()
export class FleetService {
  constructor(
    @Inject(FleetRepository) private readonly repo: FleetRepository,
    @Inject(AuditService) private readonly audit: AuditService,
    @Inject(EventBus) private readonly events: EventBus,
  ) {}

  async create(input: CreateFleetRequest, actor: Actor): Promise<Fleet> {
    const f = await this.repo.create(input.name, input.description);
    if (f === 'name-taken') throw new ConflictException(`a fleet named ${input.name} already exists`);
    await this.audit.record(actor, 'fleet.create', { type: 'fleet', id: f.id }, { name: f.name });
    this.events.publish({
      type: 'fleet.changed',
      scope: 'fleets',
      minRole: 'viewer',
      fleetId: f.id,
      data: { action: 'created', name: f.name },
    });
    return f;
  }

  list(): Promise<Fleet[]> {
    return this.repo.list();
  }

  /** By id or by name. */
  async get(idOrName: string): Promise<Fleet> {
    const f = await this.repo.find(idOrName);
    if (!f) throw new NotFoundException(`no fleet ${idOrName}`);
    return f;
  }

  async update(idOrName: string, description: string, actor: Actor): Promise<Fleet> {
    const f = await this.get(idOrName);
    await this.repo.update(f.id, description);
    await this.audit.record(actor, 'fleet.update', { type: 'fleet', id: f.id }, { description });
    return { ...f, description };
  }

  async delete(idOrName: string, actor: Actor): Promise<void> {
    const f = await this.get(idOrName);
    if (!(await this.repo.deleteIfEmpty(f.id)))
      throw new ConflictException(
        `fleet ${f.name} has devices (decommissioned ones keep their history there); only a fleet that never had devices can be deleted`,
      );
    await this.audit.record(actor, 'fleet.delete', { type: 'fleet', id: f.id }, { name: f.name });
  }

  async createClaimToken(
    fleetIdOrName: string,
    input: CreateClaimTokenRequest,
    actor: Actor,
    now = new Date(),
  ): Promise<{ token: string; info: ClaimToken }> {
    const fleet = await this.get(fleetIdOrName);
    const token = CLAIM_TOKEN_PREFIX + newSecret();
    const info = await this.repo.createClaimToken({
      fleetId: fleet.id,
      name: input.name,
      tokenHash: sha256Hex(token),
      tags: input.tags,
      maxUses: input.maxUses ?? null,
      expiresAt: input.expiresInHours ? new Date(now.getTime() + input.expiresInHours * 3_600_000) : null,
      createdBy: actor.id,
    });
    await this.audit.record(
      actor,
      'claim-token.create',
      { type: 'claim-token', id: info.id },
      { fleetId: fleet.id, name: input.name, maxUses: info.maxUses, expiresAt: info.expiresAt },
    );
    return { token, info };
  }

  async listClaimTokens(fleetIdOrName: string): Promise<ClaimToken[]> {
    const fleet = await this.get(fleetIdOrName);
    return this.repo.listClaimTokens(fleet.id);
  }

  async revokeClaimToken(id: string, actor: Actor): Promise<ClaimToken> {
    const t = UUID.test(id) ? await this.repo.findClaimToken(id) : null;
    if (!t) throw new NotFoundException(`no claim token ${id}`);
    const at = new Date();
    await this.repo.revokeClaimToken(id, at);
    await this.audit.record(actor, 'claim-token.revoke', { type: 'claim-token', id }, { fleetId: t.fleetId });
    return { ...t, revokedAt: t.revokedAt ?? at };
  }
}

import {
  ConflictException,
  Injectable,
  NotFoundException,
  UnprocessableEntityException,
  Inject,
} from '@nestjs/common';
import { keyIdOf, manifestDigest, parseReleaseManifest, verifyManifest } from '@fleet/protocol';
import { z } from 'zod';
import { AuditService } from '../audit/audit.service.js';
import type { Actor } from '../auth/principal.js';
import { decodeCursor, encodeCursor, validationError, type Page } from '../common/validation.js';
import { EventBus } from '../events/event-bus.js';
import { ObjectsService } from '../objects/object.service.js';
import type { CreateKeyRequest, ListReleasesQuery } from './release.dto.js';
import { referencedObjects } from './referenced-objects.js';
import { ReleaseRepository } from './release.repository.js';
import type { Release, ReleaseSummary, SigningKeyRecord } from './release.types.js';

function unprocessable(
  message: string,
  issues: Array<{ path: string; message: string }>,
  extra: Record<string, unknown> = {},
): UnprocessableEntityException {
  return new UnprocessableEntityException({
    statusCode: 422,
    error: 'Unprocessable Entity',
    message,
    issues,
    ...extra,
  });
}

@Injectable()
export class ReleasesService {
  constructor(
    @Inject(ReleaseRepository) private readonly repo: ReleaseRepository,
    @Inject(ObjectsService) private readonly objects: ObjectsService,
    @Inject(AuditService) private readonly audit: AuditService,
    @Inject(EventBus) private readonly events: EventBus,
  ) {}

  // ---- signing keys ----

  async createKey(input: CreateKeyRequest, actor: Actor): Promise<SigningKeyRecord> {
    const raw = Buffer.from(input.publicKey, 'base64');
    const keyId = keyIdOf(raw);
    if (input.keyId && input.keyId !== keyId) {
      throw validationError('request body', [
        { path: '$.keyId', message: `does not match the key (its id is ${keyId})` },
      ]);
    }
    const existing = await this.repo.findKey(keyId);
    if (existing)
      throw new ConflictException(
        `key ${keyId} is already registered${existing.revokedAt ? ' (revoked)' : ''}`,
      );
    const k = await this.repo.createKey({
      keyId,
      alg: input.alg,
      publicKey: input.publicKey,
      name: input.name,
    });
    await this.audit.record(actor, 'key.create', { type: 'signing-key', id: keyId }, { name: input.name });
    return k;
  }

  listKeys(includeRevoked: boolean): Promise<SigningKeyRecord[]> {
    return this.repo.listKeys(includeRevoked);
  }

  async revokeKey(keyId: string, actor: Actor): Promise<void> {
    const k = await this.repo.findKey(keyId);
    if (!k) throw new NotFoundException(`no signing key ${keyId}`);
    await this.repo.revokeKey(keyId, new Date());
    await this.audit.record(actor, 'key.revoke', { type: 'signing-key', id: keyId });
  }

  // ---- releases ----

  /**
   * Registers a signed release manifest. Refused unless it parses, carries a valid signature
   * by an active organisation key, every object it references is stored with the stated size,
   * and its version and sequence are new (sequence above every earlier release). Uploading
   * the very same manifest again returns the existing release (idempotent for retries).
   */
  async create(input: unknown, actor: Actor): Promise<{ release: Release; created: boolean }> {
    const parsed = parseReleaseManifest(input);
    if (!parsed.ok)
      throw validationError(
        'release manifest',
        parsed.error.issues.map((i) => ({ path: i.path, message: i.message })),
      );
    const m = parsed.value;
    const digest = manifestDigest(m);
    const same = await this.repo.find(m.version);
    if (same && same.manifestDigest === digest) return { release: same, created: false };

    const keys = await this.repo.listKeys(false);
    const roots = keys.map((k) => ({ keyId: k.keyId, publicKey: k.publicKey, name: k.name }));
    const trust = verifyManifest(m, roots);
    // Devices receive (and verify) the parsed manifest, defaults filled in; a signature over the
    // raw upload that the parse changed would fail on every device: say so precisely.
    if (!trust.ok && verifyManifest(input, roots).ok) {
      throw unprocessable(
        'the signature covers the manifest as uploaded, but parsing filled in defaults: sign the parsed manifest (protocol ReleaseManifest.parse) instead',
        [{ path: '$.signatures', message: 'signed before defaults were filled in' }],
        { reason: 'signature-invalid' },
      );
    }
    if (!trust.ok)
      throw unprocessable(
        `release signature refused (${trust.error.reason}): ${trust.error.message}`,
        [{ path: '$.signatures', message: trust.error.message }],
        { reason: trust.error.reason },
      );

    const refs = referencedObjects(m);
    const present = new Map(
      (await this.objects.existing([...new Set(refs.map((r) => r.digest))])).map((o) => [o.digest, o]),
    );
    const issues: Array<{ path: string; message: string }> = [];
    for (const r of refs) {
      const o = present.get(r.digest);
      if (!o)
        issues.push({
          path: `$.${r.role}`,
          message: `object ${r.digest} is not stored on the hub: upload it first`,
        });
      else if (o.size !== r.size)
        issues.push({
          path: `$.${r.role}.size`,
          message: `says ${r.size} bytes, the stored object has ${o.size}`,
        });
    }
    if (issues.length > 0)
      throw unprocessable(
        `release references objects the hub does not have: ${issues.map((i) => i.message).join('; ')}`,
        issues,
        { reason: 'object-missing' },
      );

    const res = await this.repo.create({
      version: m.version,
      sequence: m.sequence,
      manifest: m,
      manifestDigest: digest,
      compatibleBoards: m.compatibleBoards,
      notes: m.notes,
      createdBy: actor.id,
      objects: [...new Map(refs.map((r) => [`${r.digest} ${r.role}`, r])).values()],
    });
    if ('conflict' in res) {
      const c = res.conflict;
      throw new ConflictException(
        c.version === m.version
          ? `release ${m.version} already exists with different content; releases are immutable: publish a new version`
          : `sequence ${m.sequence} is already used by release ${c.version}`,
      );
    }
    if ('notNewer' in res)
      throw new ConflictException(
        `sequence ${m.sequence} is not above the latest release's sequence ${res.notNewer}`,
      );
    await this.audit.record(
      actor,
      'release.create',
      { type: 'release', id: res.created.id },
      { version: m.version, sequence: m.sequence, digest, signedBy: trust.value.keyIds },
    );
    this.events.publish({
      type: 'release.created',
      scope: 'releases',
      minRole: 'viewer',
      data: { id: res.created.id, version: m.version },
    });
    return { release: res.created, created: true };
  }

  async get(idOrVersion: string): Promise<Release> {
    const r = await this.repo.find(idOrVersion);
    if (!r) throw new NotFoundException(`no release ${idOrVersion}`);
    return r;
  }

  async list(q: ListReleasesQuery): Promise<Page<ReleaseSummary>> {
    const beforeSequence = q.cursor
      ? decodeCursor(z.object({ seq: z.number().int() }), q.cursor).seq
      : undefined;
    const rows = await this.repo.list({
      includeYanked: q.includeYanked,
      board: q.board,
      beforeSequence,
      limit: q.limit + 1,
    });
    const items = rows.slice(0, q.limit);
    const last = items.at(-1);
    return { items, nextCursor: rows.length > q.limit && last ? encodeCursor({ seq: last.sequence }) : null };
  }

  /** Yanked releases stay readable (devices running them keep working) but are not deployed again. */
  async yank(idOrVersion: string, reason: string, actor: Actor): Promise<Release> {
    const r = await this.get(idOrVersion);
    if (r.yankedAt) return r;
    await this.repo.yank(r.id, reason, new Date());
    await this.audit.record(
      actor,
      'release.yank',
      { type: 'release', id: r.id },
      { version: r.version, reason },
    );
    this.events.publish({
      type: 'release.yanked',
      scope: 'releases',
      minRole: 'viewer',
      data: { id: r.id, version: r.version, reason },
    });
    return this.get(r.id);
  }
}

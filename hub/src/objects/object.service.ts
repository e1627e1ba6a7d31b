import {
  BadRequestException,
  Inject,
  Injectable,
  NotFoundException,
  PayloadTooLargeException,
  UnprocessableEntityException,
} from '@nestjs/common';
import type { Readable } from 'node:stream';
import { AuditService } from '../audit/audit.service.js';
import type { Actor } from '../auth/principal.js';
import { HUB_CONFIG, type HubConfig } from '../config/hub-config.js';
import { MetricsRegistry, type Counter } from '../metrics/metrics.registry.js';
import { OBJECT_STORE, type ObjectStore } from './object-store.js';
import { ObjectRepository, type ObjectRecord } from './object.repository.js';

export interface ObjectHead {
  digest: string;
  size: number;
  mediaType: string | null;
  etag: string;
}

@Injectable()
export class ObjectsService {
  private readonly bytesIn: Counter;
  private readonly bytesOut: Counter;
  private readonly rejected: Counter;

  constructor(
    @Inject(OBJECT_STORE) private readonly store: ObjectStore,
    @Inject(ObjectRepository) private readonly repo: ObjectRepository,
    @Inject(AuditService) private readonly audit: AuditService,
    @Inject(HUB_CONFIG) private readonly config: HubConfig,
    @Inject(MetricsRegistry) metrics: MetricsRegistry,
  ) {
    this.bytesIn = metrics.counter('fleet_hub_object_bytes_uploaded_total', 'Object bytes accepted.');
    this.bytesOut = metrics.counter(
      'fleet_hub_object_bytes_served_total',
      'Object bytes sent (ranges included).',
    );
    this.rejected = metrics.counter(
      'fleet_hub_object_uploads_rejected_total',
      'Object uploads refused, by reason.',
    );
  }

  async head(hex: string): Promise<ObjectHead | null> {
    const s = await this.store.stat(hex);
    if (!s) return null;
    const rec = await this.repo.find(`sha256:${hex}`);
    return {
      digest: `sha256:${hex}`,
      size: s.size,
      mediaType: rec?.mediaType ?? null,
      etag: `"sha256:${hex}"`,
    };
  }

  read(hex: string, range: { start: number; end: number } | undefined): Readable {
    return this.store.read(hex, range);
  }

  countServed(bytes: number): void {
    this.bytesOut.inc({}, bytes);
  }

  async put(
    hex: string,
    body: Readable,
    declaredLength: number | undefined,
    mediaType: string | null,
    actor: Actor,
    signal?: AbortSignal,
  ): Promise<{ digest: string; size: number; created: boolean }> {
    if (declaredLength !== undefined && declaredLength > this.config.maxObjectBytes) {
      this.rejected.inc({ reason: 'too-large' });
      body.resume();
      throw new PayloadTooLargeException(
        `object of ${declaredLength} bytes exceeds the limit of ${this.config.maxObjectBytes}`,
      );
    }
    const r = await this.store.put(
      hex,
      body,
      { maxBytes: this.config.maxObjectBytes, expectedSize: declaredLength },
      signal,
    );
    if (!r.ok) {
      this.rejected.inc({ reason: r.reason });
      if (r.reason === 'too-large')
        throw new PayloadTooLargeException(`object exceeds the limit of ${r.limit} bytes`);
      if (r.reason === 'digest-mismatch') {
        throw new UnprocessableEntityException({
          statusCode: 422,
          error: 'Unprocessable Entity',
          message: `content does not match its digest: the URL says sha256:${hex}, the bytes hash to ${r.actual}`,
          issues: [{ path: '$', message: 'digest mismatch' }],
        });
      }
      throw new BadRequestException(`body has ${r.actual} bytes, Content-Length said ${r.expected}`);
    }
    await this.repo.upsert(`sha256:${hex}`, r.size, mediaType);
    this.bytesIn.inc({}, r.size);
    if (r.created)
      await this.audit.record(
        actor,
        'object.upload',
        { type: 'object', id: `sha256:${hex}` },
        { size: r.size, mediaType },
      );
    return { digest: `sha256:${hex}`, size: r.size, created: r.created };
  }

  /** Objects the hub has (bytes present), by digest. */
  async existing(digests: string[]): Promise<ObjectRecord[]> {
    const recs = await this.repo.findMany(digests);
    const present: ObjectRecord[] = [];
    for (const r of recs) if (await this.store.stat(r.digest.slice('sha256:'.length))) present.push(r);
    return present;
  }

  async require(hex: string): Promise<ObjectHead> {
    const h = await this.head(hex);
    if (!h) throw new NotFoundException(`no object sha256:${hex}`);
    return h;
  }
}

import { Injectable, type OnModuleDestroy } from '@nestjs/common';
import { Subject, type Observable } from 'rxjs';
import { z } from 'zod';
import { Role, Scope } from '../auth/principal.js';

/** Every kind of event the dashboard can receive. Persisted/wire literals: never rename. */
export type HubEventType =
  | 'device.created'
  | 'device.updated'
  | 'device.presence'
  | 'device.report'
  | 'device.progress'
  | 'device.decommissioned'
  | 'device.command'
  | 'device.logs'
  | 'device.telemetry'
  | 'fleet.changed'
  | 'release.created'
  | 'release.yanked'
  | 'rollout.progress'
  | 'audit.entry';

/** One SSE frame's data, as documented in the OpenAPI document (`HubEvent` is the TS side). */
export const HubEventSchema = z.object({
  type: z.enum([
    'device.created',
    'device.updated',
    'device.presence',
    'device.report',
    'device.progress',
    'device.decommissioned',
    'device.command',
    'device.logs',
    'device.telemetry',
    'fleet.changed',
    'release.created',
    'release.yanked',
    'rollout.progress',
    'audit.entry',
  ] satisfies HubEventType[]),
  at: z.string(),
  scope: Scope,
  minRole: Role,
  fleetId: z.string().optional(),
  deviceId: z.string().optional(),
  data: z.record(z.string(), z.unknown()),
});

export interface HubEvent {
  type: HubEventType;
  at: string;
  /** Area, checked against an API token's scopes. */
  scope: Scope;
  /** Least role allowed to see it. */
  minRole: Role;
  fleetId?: string;
  deviceId?: string;
  data: Record<string, unknown>;
}

/**
 * In-process fan-out from services to SSE streams (one per hub instance, from Nest DI). Events
 * are notifications, not a log: a dashboard that reconnects reloads state over the REST API.
 * With several replicas each one forwards the events its own services produced; device events
 * arrive at the replica whose ingest consumed them.
 */
@Injectable()
export class EventBus implements OnModuleDestroy {
  readonly #subject = new Subject<HubEvent>();

  publish(event: Omit<HubEvent, 'at'> & { at?: string }): void {
    this.#subject.next({ ...event, at: event.at ?? new Date().toISOString() });
  }

  get events(): Observable<HubEvent> {
    return this.#subject.asObservable();
  }

  /** Ends every open stream, so that shutdown does not wait on dashboards. */
  onModuleDestroy(): void {
    this.#subject.complete();
  }
}

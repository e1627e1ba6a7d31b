import { Injectable, type OnModuleDestroy } from '@nestjs/common';
import { Subject, type Observable } from 'rxjs';
import type { HubEvent } from '@fleet/protocol';

// The event shapes (SSE frame data, every event type) are protocol's (decision 0004).
export { HubEvent, HubEventType } from '@fleet/protocol';

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

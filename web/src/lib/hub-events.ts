import { parseHubEvent, type HubEvent, type HubEventType } from '@fleet/protocol/browser';

/** Every event type the hub emits that the dashboard reacts to (logs have their own stream). */
export const DASHBOARD_EVENT_TYPES = [
  'device.created',
  'device.updated',
  'device.presence',
  'device.report',
  'device.progress',
  'device.decommissioned',
  'device.command',
  'fleet.changed',
  'release.created',
  'release.yanked',
  'rollout.progress',
] as const satisfies readonly HubEventType[];

export type ConnectionState = 'connecting' | 'open' | 'closed';

type Listener = (event: HubEvent) => void;

/** What EventSource the browser has; tests hand in a scripted one. */
export type EventSourceFactory = (url: string) => EventSource;

/**
 * One EventSource to the hub, shared by the whole app, fanned out to listeners by type.
 * EventSource reconnects by itself; events are notifications, not a log, so after a reconnect
 * the `onReconnect` callback lets the app refetch what it shows.
 */
export class HubEvents {
  readonly #factory: EventSourceFactory;
  readonly #url: string;
  readonly #listeners = new Map<string, Set<Listener>>();
  readonly #stateListeners = new Set<(s: ConnectionState) => void>();
  #source: EventSource | null = null;
  #state: ConnectionState = 'closed';
  #everOpened = false;
  onReconnect: (() => void) | undefined;

  constructor(url: string, factory: EventSourceFactory) {
    this.#url = url;
    this.#factory = factory;
  }

  get state(): ConnectionState {
    return this.#state;
  }

  connect(): void {
    if (this.#source) return;
    const source = this.#factory(this.#url);
    this.#source = source;
    this.#everOpened = false;
    this.#setState('connecting');
    source.onopen = () => {
      if (this.#everOpened) this.onReconnect?.();
      this.#everOpened = true;
      this.#setState('open');
    };
    source.onerror = () => {
      // CLOSED means the browser gave up (e.g. 401 after logout); CONNECTING means it retries.
      this.#setState(source.readyState === 2 ? 'closed' : 'connecting');
    };
    for (const type of DASHBOARD_EVENT_TYPES) {
      source.addEventListener(type, (msg) => this.#dispatch((msg as MessageEvent<string>).data));
    }
  }

  /** Opens another, narrower stream (one device's logs) through the same factory. */
  openStream(url: string): EventSource {
    return this.#factory(url);
  }

  disconnect(): void {
    this.#source?.close();
    this.#source = null;
    this.#setState('closed');
  }

  /** Listens to one type, or every type with `*`. Returns the unsubscribe function. */
  on(type: string, listener: Listener): () => void {
    let set = this.#listeners.get(type);
    if (!set) this.#listeners.set(type, (set = new Set()));
    set.add(listener);
    return () => set.delete(listener);
  }

  onState(listener: (s: ConnectionState) => void): () => void {
    this.#stateListeners.add(listener);
    return () => this.#stateListeners.delete(listener);
  }

  /** Feeds one raw `data:` payload through the listeners (also the seam tests use). */
  #dispatch(raw: string): void {
    // Not JSON, or a type this dashboard does not know (a newer hub): skipped.
    const parsed = parseHubEvent(raw);
    if (!parsed.ok) return;
    for (const l of this.#listeners.get(parsed.value.type) ?? []) l(parsed.value);
    for (const l of this.#listeners.get('*') ?? []) l(parsed.value);
  }

  #setState(s: ConnectionState): void {
    if (s === this.#state) return;
    this.#state = s;
    for (const l of this.#stateListeners) l(s);
  }
}

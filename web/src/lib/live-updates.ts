import type { Device, DeviceDetail, HubEvent, Page } from '@fleet/protocol/browser';
import type { InfiniteData, QueryClient, QueryKey } from '@tanstack/react-query';
import type { HubEvents } from './hub-events.js';

/**
 * Collects query keys to invalidate and flushes them together a moment later: a burst of
 * presence events from a reconnecting fleet becomes one refetch of the summary, not thousands.
 * One timer per burst; nothing runs while the hub is quiet.
 */
export class InvalidationBatcher {
  readonly #keys = new Map<string, QueryKey>();
  #timer: ReturnType<typeof setTimeout> | null = null;

  constructor(
    private readonly qc: QueryClient,
    private readonly delayMs = 750,
  ) {}

  add(key: QueryKey): void {
    this.#keys.set(JSON.stringify(key), key);
    this.#timer ??= setTimeout(() => this.flush(), this.delayMs);
  }

  flush(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    const keys = [...this.#keys.values()];
    this.#keys.clear();
    for (const queryKey of keys) void this.qc.invalidateQueries({ queryKey });
  }

  dispose(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    this.#keys.clear();
  }
}

type DevicePatch = Partial<Device>;

/** Patches one device wherever it is cached: list pages and its detail. No refetch. */
export function patchDevice(qc: QueryClient, deviceId: string, patch: DevicePatch): void {
  qc.setQueriesData<InfiniteData<Page<Device>>>({ queryKey: ['devices', 'list'] }, (data) => {
    if (!data) return data;
    let changed = false;
    const pages = data.pages.map((p) => {
      const i = p.items.findIndex((d) => d.id === deviceId);
      if (i < 0) return p;
      changed = true;
      const items = p.items.slice();
      items[i] = { ...items[i]!, ...patch };
      return { ...p, items };
    });
    return changed ? { ...data, pages } : data;
  });
  qc.setQueryData<DeviceDetail>(['devices', 'detail', deviceId], (d) => (d ? { ...d, ...patch } : d));
}

function str(v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined;
}

/** Applies one hub event to the caches. Pure over (QueryClient, batcher): tested directly. */
export function applyHubEvent(qc: QueryClient, batch: InvalidationBatcher, e: HubEvent): void {
  const id = e.deviceId;
  switch (e.type) {
    case 'device.presence': {
      if (!id) return;
      const state = str(e.data.state);
      patchDevice(qc, id, {
        online: state === 'online',
        ...(str(e.data.at) ? { lastSeenAt: str(e.data.at)! } : {}),
      });
      batch.add(['devices', 'summary']);
      return;
    }
    case 'device.report': {
      if (!id) return;
      const rev = e.data.revision as { version?: unknown; digest?: unknown; sequence?: unknown } | undefined;
      patchDevice(qc, id, {
        ...(typeof rev?.version === 'string' ? { currentRelease: rev.version } : {}),
        ...(typeof rev?.digest === 'string' ? { currentRevisionDigest: rev.digest } : {}),
        ...(typeof rev?.sequence === 'number' ? { currentSequence: rev.sequence } : {}),
        ...(str(e.data.updateState) ? { updateState: str(e.data.updateState)! } : {}),
        online: true,
      });
      // Containers (state, restart counts) only come with the full detail.
      batch.add(['devices', 'detail', id]);
      batch.add(['devices', 'summary']);
      return;
    }
    case 'device.progress': {
      if (!id) return;
      patchDevice(qc, id, {
        ...(str(e.data.status) ? { updateStatus: str(e.data.status)! } : {}),
        ...(str(e.data.state) ? { updateState: str(e.data.state)! } : {}),
        updateReason: str(e.data.reason) ?? null,
      });
      batch.add(['devices', 'updates', id]);
      batch.add(['devices', 'summary']);
      batch.add(['devices', 'failures']);
      batch.add(['rollouts']);
      return;
    }
    case 'device.created':
    case 'device.updated':
    case 'device.decommissioned':
      batch.add(['devices', 'list']);
      batch.add(['devices', 'summary']);
      batch.add(['devices', 'tags']);
      if (id) batch.add(['devices', 'detail', id]);
      batch.add(['fleets']);
      return;
    case 'device.command':
      if (id) batch.add(['devices', 'commands', id]);
      return;
    case 'fleet.changed':
      batch.add(['fleets']);
      return;
    case 'release.created':
    case 'release.yanked':
      batch.add(['releases']);
      return;
    case 'rollout.progress': {
      const rolloutId = str(e.data.rolloutId) ?? str(e.data.id);
      if (rolloutId) {
        batch.add(['rollouts', 'detail', rolloutId]);
        batch.add(['rollouts', 'devices', rolloutId]);
      }
      batch.add(['rollouts', 'list']);
      return;
    }
    default:
      return;
  }
}

/** Wires the event stream into the query cache; returns the teardown. */
export function connectLiveUpdates(qc: QueryClient, events: HubEvents): () => void {
  const batch = new InvalidationBatcher(qc);
  const off = events.on('*', (e) => applyHubEvent(qc, batch, e));
  // Events missed while disconnected are gone: refetch what is on screen.
  events.onReconnect = () => void qc.invalidateQueries({ predicate: (q) => q.queryKey[0] !== 'auth' });
  events.connect();
  return () => {
    off();
    events.onReconnect = undefined;
    events.disconnect();
    batch.dispose();
  };
}

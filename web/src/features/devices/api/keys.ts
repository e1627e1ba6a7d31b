import type { DeviceSearch } from '../search.js';

/** Query keys of the devices feature; lib/live-updates.ts patches and invalidates by these. */
export const deviceKeys = {
  all: ['devices'] as const,
  lists: () => ['devices', 'list'] as const,
  list: (search: DeviceSearch) => ['devices', 'list', search] as const,
  summaries: () => ['devices', 'summary'] as const,
  summary: (fleetId: string | undefined) => ['devices', 'summary', fleetId ?? null] as const,
  failures: () => ['devices', 'failures'] as const,
  tags: (fleetId: string | undefined) => ['devices', 'tags', fleetId ?? null] as const,
  detail: (id: string) => ['devices', 'detail', id] as const,
  updates: (id: string) => ['devices', 'updates', id] as const,
  commands: (id: string) => ['devices', 'commands', id] as const,
  telemetry: (id: string, rangeSeconds: number) => ['devices', 'telemetry', id, rangeSeconds] as const,
  logs: (id: string, source: string | undefined, q: string | undefined) =>
    ['devices', 'logs', id, source ?? null, q ?? null] as const,
};

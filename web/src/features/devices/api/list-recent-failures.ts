import type { Device } from '@fleet/protocol/browser';
import { queryOptions, useQuery } from '@tanstack/react-query';
import type { ApiClient } from '../../../lib/api-client.js';
import { useApi } from '../../../lib/api-context.js';
import { deviceKeys } from './keys.js';
import { listDevices } from './list-devices.js';

export interface FailureGroup {
  reason: string | null;
  count: number;
  devices: Array<Pick<Device, 'id' | 'name' | 'currentRelease' | 'lastSeenAt'>>;
}

export interface RecentFailures {
  groups: FailureGroup[];
  /** Failed devices looked at (the most recently seen page). */
  sampled: number;
  /** More failed devices exist than were grouped. */
  truncated: boolean;
}

/** Groups devices by failure reason, largest group first. Pure: tested on its own. */
export function groupFailures(devices: Device[]): FailureGroup[] {
  const by = new Map<string | null, FailureGroup>();
  for (const d of devices) {
    const key = d.updateReason;
    let g = by.get(key);
    if (!g) by.set(key, (g = { reason: key, count: 0, devices: [] }));
    g.count++;
    if (g.devices.length < 5)
      g.devices.push({ id: d.id, name: d.name, currentRelease: d.currentRelease, lastSeenAt: d.lastSeenAt });
  }
  return [...by.values()].sort(
    (a, b) => b.count - a.count || String(a.reason).localeCompare(String(b.reason)),
  );
}

/**
 * The hub has no aggregate for failure reasons: this reads the most recently seen page of
 * devices whose update failed (`status=failed`) and groups it here.
 */
export async function listRecentFailures(
  api: ApiClient,
  fleetId: string | undefined,
  signal?: AbortSignal,
): Promise<RecentFailures> {
  const page = await listDevices(
    api,
    { status: 'failed', sort: '-lastSeenAt', tag: [], ...(fleetId ? { fleetId } : {}) },
    undefined,
    signal,
  );
  return {
    groups: groupFailures(page.items),
    sampled: page.items.length,
    truncated: page.nextCursor !== null,
  };
}

export function recentFailuresQueryOptions(api: ApiClient, fleetId: string | undefined) {
  return queryOptions({
    queryKey: [...deviceKeys.failures(), fleetId ?? null],
    queryFn: ({ signal }) => listRecentFailures(api, fleetId, signal),
    staleTime: 60_000,
  });
}

export function useRecentFailures(fleetId?: string) {
  const api = useApi();
  return useQuery(recentFailuresQueryOptions(api, fleetId));
}

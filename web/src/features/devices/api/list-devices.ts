import { Device, Page } from '@fleet/protocol/browser';
import { infiniteQueryOptions, keepPreviousData, useInfiniteQuery } from '@tanstack/react-query';
import { buildQuery, type ApiClient } from '../../../lib/api-client.js';
import { useApi } from '../../../lib/api-context.js';
import type { DeviceSearch } from '../search.js';
import { deviceKeys } from './keys.js';

export const DevicePage = Page(Device);
export type DevicePage = Page<Device>;

/** The hub caps a page at 500; 200 rows is a few screens of the virtualized table. */
export const DEVICE_PAGE_SIZE = 200;

/** One page of the server-side filtered, sorted list; `cursor` from the previous page. */
export function listDevices(
  api: ApiClient,
  search: DeviceSearch,
  cursor: string | undefined,
  signal?: AbortSignal,
): Promise<DevicePage> {
  const qs = buildQuery({ ...search, limit: DEVICE_PAGE_SIZE, cursor });
  return api.get(`/api/v1/devices${qs}`, DevicePage, signal);
}

export function devicesQueryOptions(api: ApiClient, search: DeviceSearch) {
  return infiniteQueryOptions({
    queryKey: deviceKeys.list(search),
    queryFn: ({ pageParam, signal }) => listDevices(api, search, pageParam, signal),
    initialPageParam: undefined as string | undefined,
    getNextPageParam: (last) => last.nextCursor ?? undefined,
    // Rows are kept fresh by the event stream (lib/live-updates.ts), not by refetching.
    staleTime: 60_000,
    // A new filter keeps the old rows on screen until its first page arrives (no flash).
    placeholderData: keepPreviousData,
  });
}

export function useDevices(search: DeviceSearch) {
  const api = useApi();
  return useInfiniteQuery(devicesQueryOptions(api, search));
}

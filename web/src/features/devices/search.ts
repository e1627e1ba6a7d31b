import { DEVICE_SORTS, DEVICE_STATUSES } from '@fleet/protocol/browser';
import { z } from 'zod';
import { Tag } from './types.js';

/** The device list's filters, as they live in the URL (shareable, back-button friendly). */
export const DeviceSearch = z.object({
  q: z.string().trim().min(1).max(128).optional(),
  status: z.enum(DEVICE_STATUSES).optional(),
  fleetId: z.uuid().optional(),
  tag: z.array(Tag).max(20).default([]),
  release: z.string().trim().min(1).max(128).optional(),
  sort: z.enum(DEVICE_SORTS).default('name'),
});
export type DeviceSearch = z.infer<typeof DeviceSearch>;

/**
 * Reads the filters from the URL. A bad parameter (hand-edited, stale link) is dropped and
 * named in `ignored`, so the page still loads and says what it ignored.
 */
export function parseDeviceSearch(params: URLSearchParams): { search: DeviceSearch; ignored: string[] } {
  const raw: Record<string, unknown> = {};
  for (const key of ['q', 'status', 'fleetId', 'release', 'sort'] as const) {
    const v = params.get(key);
    if (v !== null && v !== '') raw[key] = v;
  }
  const tags = params.getAll('tag').filter((t) => t !== '');
  if (tags.length) raw.tag = tags;
  const ignored: string[] = [];
  for (;;) {
    const r = DeviceSearch.safeParse(raw);
    if (r.success) return { search: r.data, ignored };
    const bad = new Set(r.error.issues.map((i) => String(i.path[0])));
    for (const key of bad) {
      if (key === 'tag' && Array.isArray(raw.tag)) {
        const good = (raw.tag as string[]).filter((t) => Tag.safeParse(t).success);
        for (const t of raw.tag as string[]) if (!good.includes(t)) ignored.push(`tag=${t}`);
        if (good.length && good.length <= 20) raw.tag = good;
        else delete raw.tag;
      } else {
        ignored.push(`${key}=${String(raw[key])}`);
        delete raw[key];
      }
    }
  }
}

/** The inverse: filters to URL params, defaults left out so links stay short. */
export function deviceSearchParams(search: Partial<DeviceSearch>): URLSearchParams {
  const sp = new URLSearchParams();
  if (search.q) sp.set('q', search.q);
  if (search.status) sp.set('status', search.status);
  if (search.fleetId) sp.set('fleetId', search.fleetId);
  for (const t of search.tag ?? []) sp.append('tag', t);
  if (search.release) sp.set('release', search.release);
  if (search.sort && search.sort !== 'name') sp.set('sort', search.sort);
  return sp;
}

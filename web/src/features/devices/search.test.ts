import { describe, expect, it } from 'vitest';
import { deviceSearchParams, parseDeviceSearch } from './search.js';

describe('device search params', () => {
  it('round-trips every filter through the URL', () => {
    const search = {
      q: 'kiosk',
      status: 'online',
      fleetId: '00000000-0000-4000-8000-000000000001',
      tag: ['a', 'site=b'],
      release: '1.2.3',
      sort: '-name',
    } as const;
    const back = parseDeviceSearch(deviceSearchParams({ ...search, tag: [...search.tag] }));
    expect(back).toEqual({ search: { ...search, tag: ['a', 'site=b'] }, ignored: [] });
  });

  it('leaves defaults out of the URL', () => {
    expect(deviceSearchParams({ sort: 'name', tag: [] }).toString()).toBe('');
  });

  it('drops each bad parameter, keeps the good ones and names what it dropped', () => {
    const r = parseDeviceSearch(new URLSearchParams('status=nope&sort=sideways&q=ok&tag=UPPER&tag=fine'));
    expect(r.search).toEqual({ q: 'ok', tag: ['fine'], sort: 'name' });
    expect(r.ignored.sort()).toEqual(['sort=sideways', 'status=nope', 'tag=UPPER']);
  });

  it('refuses an over-long search text', () => {
    const r = parseDeviceSearch(new URLSearchParams({ q: 'x'.repeat(129) }));
    expect(r.search.q).toBeUndefined();
    expect(r.ignored).toHaveLength(1);
  });
});

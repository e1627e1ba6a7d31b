import type { Device } from '@fleet/protocol/browser';
import { act, fireEvent, screen, waitFor, within } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { aCommand, aDevice, aFleet, FLEET_ID, uuid } from '../../test/builders.js';
import { FakeHub, type RecordedRequest } from '../../test/fake-hub.js';
import { renderApp } from '../../test/render.js';

/** A hub holding `total` devices, answering pages by cursor like the real keyset pagination. */
function fleetOf(total: number, over: (i: number) => Partial<Device> = () => ({})) {
  const devices = Array.from({ length: total }, (_, i) =>
    aDevice({ id: uuid(100000 + i), name: `dev-${String(i).padStart(5, '0')}`, ...over(i) }),
  );
  const hub = new FakeHub()
    .on('GET /api/v1/fleets', [aFleet()])
    .on('GET /api/v1/tags', [
      { tag: 'site=berlin', count: 3 },
      { tag: 'canary', count: 1 },
    ])
    .on('GET /api/v1/devices', (req: RecordedRequest) => {
      const limit = Number(req.url.searchParams.get('limit'));
      const start = Number(req.url.searchParams.get('cursor') ?? 0);
      const items = devices.slice(start, start + limit);
      return { items, nextCursor: start + limit < devices.length ? String(start + limit) : null };
    });
  return { hub, devices };
}

const rows = () => screen.getAllByRole('row').slice(1);

describe('device list', () => {
  it('renders only the rows on screen, however many devices are loaded (virtualized)', async () => {
    const { hub } = fleetOf(1000);
    renderApp('/devices', hub);
    await screen.findByRole('link', { name: 'dev-00000' });
    const first = hub.calls('GET', '/api/v1/devices')[0]!;
    expect(first.url.searchParams.get('limit')).toBe('200');
    // 600 px viewport / 44 px rows + overscan: a few dozen DOM rows, not 200.
    expect(rows().length).toBeGreaterThan(10);
    expect(rows().length).toBeLessThan(50);
  });

  it('loads the next server page with the cursor when scrolled near the end', async () => {
    const { hub } = fleetOf(450);
    renderApp('/devices', hub);
    await screen.findByRole('link', { name: 'dev-00000' });
    const scroller = document.querySelector('.tbody-scroll')!;
    await act(async () => {
      scroller.scrollTop = 200 * 44 - 600;
      scroller.dispatchEvent(new Event('scroll'));
    });
    await waitFor(() => expect(hub.calls('GET', '/api/v1/devices').length).toBeGreaterThanOrEqual(2));
    expect(hub.calls('GET', '/api/v1/devices')[1]!.url.searchParams.get('cursor')).toBe('200');
    expect(await screen.findByText(/400\+ devices shown/)).toBeTruthy();
  });

  it('keeps filters in the URL and sends them to the hub (server-side filtering)', async () => {
    const { hub } = fleetOf(5);
    const r = renderApp('/devices', hub);
    await screen.findByRole('link', { name: 'dev-00000' });
    fireEvent.change(screen.getByLabelText('Status'), { target: { value: 'failed' } });
    await waitFor(() => expect(r.location()).toBe('/devices?status=failed'));
    fireEvent.change(screen.getByLabelText('Fleet'), { target: { value: FLEET_ID } });
    await waitFor(() => expect(r.location()).toBe(`/devices?status=failed&fleetId=${FLEET_ID}`));
    fireEvent.change(await screen.findByLabelText('Tag'), { target: { value: 'site=berlin' } });
    await waitFor(() => expect(r.location()).toContain('tag=site%3Dberlin'));
    const last = hub.calls('GET', '/api/v1/devices').at(-1)!.url.searchParams;
    expect(last.get('status')).toBe('failed');
    expect(last.get('fleetId')).toBe(FLEET_ID);
    expect(last.getAll('tag')).toEqual(['site=berlin']);
    fireEvent.click(screen.getByRole('button', { name: 'Remove tag filter site=berlin' }));
    await waitFor(() => expect(r.location()).not.toContain('tag='));
  });

  it('searches after typing stops, and reads the search back from a shared link', async () => {
    const { hub } = fleetOf(5);
    const r = renderApp('/devices?q=kiosk&sort=-lastSeenAt', hub);
    await screen.findByRole('link', { name: 'dev-00000' });
    expect((screen.getByLabelText('Search') as HTMLInputElement).value).toBe('kiosk');
    const first = hub.calls('GET', '/api/v1/devices')[0]!.url.searchParams;
    expect(first.get('q')).toBe('kiosk');
    expect(first.get('sort')).toBe('-lastSeenAt');
    fireEvent.change(screen.getByLabelText('Search'), { target: { value: 'gate' } });
    await waitFor(() => expect(r.location()).toBe('/devices?q=gate&sort=-lastSeenAt'), { timeout: 2000 });
  });

  it('ignores invalid URL filters, says which, and does not send them', async () => {
    const { hub } = fleetOf(3);
    renderApp('/devices?status=exploded&fleetId=not-a-uuid&tag=OK%20NO&tag=canary', hub);
    expect((await screen.findByText(/Ignored invalid filters/)).textContent).toBe(
      'Ignored invalid filters: status=exploded, fleetId=not-a-uuid, tag=OK NO',
    );
    const sp = hub.calls('GET', '/api/v1/devices')[0]!.url.searchParams;
    expect(sp.get('status')).toBeNull();
    expect(sp.get('fleetId')).toBeNull();
    expect(sp.getAll('tag')).toEqual(['canary']);
  });

  it('sorts by a column header, toggling the direction', async () => {
    const { hub } = fleetOf(3);
    const r = renderApp('/devices', hub);
    await screen.findByRole('link', { name: 'dev-00000' });
    const name = screen.getByRole('columnheader', { name: /Name/ });
    expect(name.getAttribute('aria-sort')).toBe('ascending');
    fireEvent.click(within(name).getByRole('button'));
    await waitFor(() => expect(r.location()).toBe('/devices?sort=-name'));
    expect(screen.getByRole('columnheader', { name: /Name/ }).getAttribute('aria-sort')).toBe('descending');
    fireEvent.click(within(screen.getByRole('columnheader', { name: /Last seen/ })).getByRole('button'));
    await waitFor(() => expect(r.location()).toBe('/devices?sort=lastSeenAt'));
  });

  it('bulk-tags the selected devices', async () => {
    const { hub, devices } = fleetOf(3);
    hub.on('POST /api/v1/devices/tags', { updated: 2 });
    renderApp('/devices', hub);
    fireEvent.click(await screen.findByRole('checkbox', { name: 'Select dev-00000' }));
    fireEvent.click(screen.getByRole('checkbox', { name: 'Select dev-00002' }));
    const bar = screen.getByRole('region', { name: 'Bulk actions' });
    expect(within(bar).getByText('2 selected')).toBeTruthy();
    fireEvent.change(within(bar).getByLabelText('Tag for the selected devices'), {
      target: { value: 'Bad Tag' },
    });
    fireEvent.click(within(bar).getByRole('button', { name: 'Add tag' }));
    expect((await within(bar).findByRole('alert')).textContent).toMatch(/key=value/);
    expect(hub.calls('POST', '/api/v1/devices/tags')).toHaveLength(0);
    fireEvent.change(within(bar).getByLabelText('Tag for the selected devices'), {
      target: { value: 'site=paris' },
    });
    fireEvent.click(within(bar).getByRole('button', { name: 'Add tag' }));
    expect(await within(bar).findByText('Tagged 2 devices with site=paris.')).toBeTruthy();
    expect(hub.calls('POST', '/api/v1/devices/tags')[0]!.body).toEqual({
      deviceIds: [devices[0]!.id, devices[2]!.id],
      add: ['site=paris'],
      remove: [],
    });
  });

  it('bulk-reboots only after confirmation, in one request for the selection', async () => {
    const { hub, devices } = fleetOf(3);
    const gone = devices[1]!.id;
    hub.on('POST /api/v1/devices/commands', (req: RecordedRequest) =>
      (req.body as { deviceIds: string[] }).deviceIds.map((deviceId) =>
        deviceId === gone
          ? { deviceId, command: null, error: `device ${deviceId} not found` }
          : { deviceId, command: aCommand({ deviceId }), error: null },
      ),
    );
    renderApp('/devices', hub);
    fireEvent.click(await screen.findByRole('checkbox', { name: 'Select all loaded devices' }));
    fireEvent.click(screen.getByRole('button', { name: 'Reboot…' }));
    const dialog = screen.getByRole('alertdialog', { name: 'Reboot 3 devices?' });
    fireEvent.click(within(dialog).getByRole('button', { name: 'Cancel' }));
    expect(screen.queryByRole('alertdialog')).toBeNull();
    expect(hub.calls('POST', '/api/v1/devices/commands')).toHaveLength(0);
    fireEvent.click(screen.getByRole('button', { name: 'Reboot…' }));
    fireEvent.click(within(screen.getByRole('alertdialog')).getByRole('button', { name: 'Reboot' }));
    // The device the hub did not find is named as failed, with the hub's reason.
    expect(
      await screen.findByText(`Reboot sent to 2 devices; 1 failed (device ${gone} not found).`),
    ).toBeTruthy();
    expect(hub.calls('POST', '/api/v1/devices/commands').map((r) => r.body)).toEqual([
      { deviceIds: devices.map((d) => d.id), command: { kind: 'reboot' } },
    ]);
    expect(hub.requests.filter((r) => /^\/api\/v1\/devices\/[^/]+\/commands$/.test(r.path))).toEqual([]);
  });

  it('shows a viewer no selection and no bulk actions', async () => {
    const { hub } = fleetOf(3);
    renderApp('/devices', hub, { role: 'viewer' });
    await screen.findByRole('link', { name: 'dev-00000' });
    expect(screen.queryByRole('checkbox')).toBeNull();
  });

  it('says which field is wrong when the hub answers a device of another shape (version drift)', async () => {
    // A hub from before failed_revisions became NOT NULL sent null here; the hub's schema (and
    // protocol's) say string[]: the page names the field instead of rendering half a row.
    const hub = new FakeHub()
      .on('GET /api/v1/fleets', [])
      .on('GET /api/v1/tags', [])
      .on('GET /api/v1/devices', {
        items: [{ ...aDevice({ name: 'fresh' }), failedRevisions: null }],
        nextCursor: null,
      });
    renderApp('/devices', hub);
    const alert = await screen.findByRole('alert');
    expect(alert.textContent).toContain('unexpected answer from /api/v1/devices');
    expect(alert.textContent).toContain('$.items[0].failedRevisions');
    expect(screen.queryByRole('link', { name: 'fresh' })).toBeNull();
  });

  it('shows the hub error when the list cannot load', async () => {
    const hub = new FakeHub()
      .on('GET /api/v1/fleets', [])
      .on('GET /api/v1/tags', [])
      .on('GET /api/v1/devices', {
        status: 400,
        body: { statusCode: 400, message: 'invalid query', issues: [{ path: '$.q', message: 'too long' }] },
      });
    renderApp('/devices', hub);
    const alert = await screen.findByRole('alert');
    expect(alert.textContent).toContain('invalid query');
    expect(alert.textContent).toContain('$.q: too long');
  });
});

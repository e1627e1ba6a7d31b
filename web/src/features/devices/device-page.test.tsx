import { act, fireEvent, screen, waitFor, within } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { aDeviceDetail, aFleet, uuid } from '../../test/builders.js';
import { FakeEventSource, FakeHub, type RecordedRequest } from '../../test/fake-hub.js';
import { renderApp } from '../../test/render.js';

function deviceHub() {
  const d = aDeviceDetail({
    name: 'gate-7',
    agentVersion: '1.3.2',
    board: 'raspberrypi4-64',
    currentRelease: '1.0.0',
    tags: ['site=berlin'],
  });
  const hub = new FakeHub()
    .on('GET /api/v1/fleets', [aFleet()])
    .on('GET /api/v1/devices/:id', d)
    .on('GET /api/v1/devices/:id/telemetry', [
      {
        at: '2026-11-30T11:00:00Z',
        samples: 6,
        cpuPercent: 12,
        memUsedBytes: 100e6,
        memTotalBytes: 512e6,
        diskUsedBytes: 1e9,
        diskTotalBytes: 8e9,
        temperatureC: 48.5,
        uptimeSeconds: 10,
      },
      {
        at: '2026-11-30T11:01:00Z',
        samples: 6,
        cpuPercent: 42,
        memUsedBytes: 120e6,
        memTotalBytes: 512e6,
        diskUsedBytes: 1e9,
        diskTotalBytes: 8e9,
        temperatureC: 51,
        uptimeSeconds: 70,
      },
    ])
    .on('GET /api/v1/devices/:id/logs', (req: RecordedRequest) => ({
      items: [
        {
          id: '2',
          deviceId: d.id,
          source: 'db',
          stream: 'stderr',
          at: '2026-11-30T11:00:02Z',
          text: 'db: out of memory',
        },
        {
          id: '1',
          deviceId: d.id,
          source: 'web',
          stream: 'stdout',
          at: '2026-11-30T11:00:01Z',
          text: 'web: listening on :80',
        },
      ].filter((l) => !req.url.searchParams.get('source') || l.source === req.url.searchParams.get('source')),
      nextCursor: null,
    }))
    .on('GET /api/v1/devices/:id/updates', {
      items: [
        {
          id: '9',
          updateId: 'u1',
          status: 'rolled-back',
          state: 'idle',
          releaseVersion: '1.1.0',
          revisionDigest: `sha256:${'e'.repeat(64)}`,
          percent: 100,
          reason: 'boot-failed',
          message: 'kernel panic',
          failedBootLog: 'VFS: Unable to mount root fs',
          at: '2026-11-30T10:00:00Z',
        },
      ],
      nextCursor: null,
    })
    .on('GET /api/v1/devices/:id/commands', [])
    .on('POST /api/v1/devices/:id/commands', (req: RecordedRequest) => ({
      id: uuid(),
      deviceId: d.id,
      kind: (req.body as { kind: string }).kind,
      params: {},
      status: 'sent',
      createdAt: '2026-11-30T12:00:00Z',
      createdBy: 'user:x',
      sentAt: null,
      ackAt: null,
      message: null,
    }));
  return { hub, d };
}

describe('device page', () => {
  it('shows identity, board, agent, presence, release and containers with restart counts', async () => {
    const { hub, d } = deviceHub();
    renderApp(`/devices/${d.id}`, hub);
    expect(await screen.findByRole('heading', { name: 'gate-7' })).toBeTruthy();
    const facts = screen.getByRole('region', { name: 'Identity' });
    expect(within(facts).getByText('raspberrypi4-64')).toBeTruthy();
    expect(within(facts).getByText('1.3.2')).toBeTruthy();
    expect(within(facts).getByText(d.hardwareId)).toBeTruthy();
    expect(within(facts).getByRole('link', { name: 'lab' })).toBeTruthy();
    const containers = screen.getByRole('region', { name: 'Containers' });
    const db = within(containers).getByRole('row', { name: /db/ });
    expect(within(db).getByText('crash-loop')).toBeTruthy();
    expect(within(db).getByText('7')).toBeTruthy();
    expect(within(db).getByText('OOM killed')).toBeTruthy();
  });

  it('charts CPU, memory, disk and temperature with a text summary', async () => {
    const { hub, d } = deviceHub();
    renderApp(`/devices/${d.id}`, hub);
    const cpu = await screen.findByRole('figure', { name: /CPU/ });
    expect(cpu.textContent).toContain('latest 42%, min 12%, max 42%');
    expect(screen.getByRole('figure', { name: /Temperature/ }).textContent).toContain('latest 51.0 °C');
    expect(screen.getByRole('figure', { name: /Memory/ }).textContent).toContain('used: latest 114 MiB');
    expect(screen.getByRole('figure', { name: /Disk/ })).toBeTruthy();
    fireEvent.change(screen.getByLabelText('Range'), { target: { value: String(24 * 3600) } });
    await waitFor(() => expect(hub.calls('GET', `/api/v1/devices/${d.id}/telemetry`)).toHaveLength(2));
    const sp = hub.calls('GET', `/api/v1/devices/${d.id}/telemetry`)[1]!.url.searchParams;
    expect(new Date(sp.get('to')!).getTime() - new Date(sp.get('from')!).getTime()).toBe(24 * 3600 * 1000);
  });

  it('shows update history with the reason and the failed boot log', async () => {
    const { hub, d } = deviceHub();
    renderApp(`/devices/${d.id}`, hub);
    const history = await screen.findByRole('region', { name: 'Update history' });
    expect(await within(history).findByText('Boot failed')).toBeTruthy();
    expect(within(history).getByText('kernel panic')).toBeTruthy();
    expect(within(history).getByText('VFS: Unable to mount root fs')).toBeTruthy();
  });

  it('shows stored logs oldest first, then follows live lines, filtered by container', async () => {
    const { hub, d } = deviceHub();
    renderApp(`/devices/${d.id}`, hub);
    let log = await screen.findByRole('log', { name: 'Device logs' });
    await within(log).findByText('web: listening on :80');
    expect(log.textContent!.indexOf('listening')).toBeLessThan(log.textContent!.indexOf('out of memory'));
    const stream = FakeEventSource.latest((s) => s.url.includes(`deviceId=${d.id}`))!;
    expect(stream.url).toContain('type=device.logs');
    act(() =>
      stream.emit('device.logs', {
        deviceId: d.id,
        data: {
          lines: [{ time: '2026-11-30T11:00:03Z', source: 'web', stream: 'stdout', text: 'GET / 200' }],
        },
      }),
    );
    expect(await within(log).findByText('GET / 200')).toBeTruthy();

    fireEvent.change(screen.getByLabelText('Container'), { target: { value: 'db' } });
    await waitFor(() =>
      expect(hub.calls('GET', `/api/v1/devices/${d.id}/logs`).at(-1)!.url.searchParams.get('source')).toBe(
        'db',
      ),
    );
    // The panel re-renders its log view once the filtered lines arrive: look it up again.
    await screen.findByText('db: out of memory');
    log = screen.getByRole('log', { name: 'Device logs' });
    expect(within(log).queryByText('web: listening on :80')).toBeNull();
    expect(within(log).queryByText('GET / 200')).toBeNull();
    const dbStream = FakeEventSource.latest((s) => s.url.includes(`deviceId=${d.id}`))!;
    act(() =>
      dbStream.emit('device.logs', {
        deviceId: d.id,
        data: {
          lines: [
            { time: '2026-11-30T11:00:04Z', source: 'web', stream: 'stdout', text: 'web line hidden' },
            { time: '2026-11-30T11:00:04Z', source: 'db', stream: 'stderr', text: 'db restarted' },
          ],
        },
      }),
    );
    expect(await within(log).findByText('db restarted')).toBeTruthy();
    expect(within(log).queryByText('web line hidden')).toBeNull();

    fireEvent.click(screen.getByLabelText('Follow'));
    expect(dbStream.closed).toBe(true);
  });

  it('restarts a container and reboots the device after confirmation', async () => {
    const { hub, d } = deviceHub();
    renderApp(`/devices/${d.id}`, hub);
    fireEvent.click(await screen.findByRole('button', { name: 'Restart db' }));
    const dialog = screen.getByRole('alertdialog', { name: 'Restart container db?' });
    expect(document.activeElement).toBe(within(dialog).getByRole('button', { name: 'Cancel' }));
    fireEvent.click(within(dialog).getByRole('button', { name: 'Restart' }));
    await waitFor(() => expect(hub.calls('POST', `/api/v1/devices/${d.id}/commands`)).toHaveLength(1));
    expect(hub.calls('POST', `/api/v1/devices/${d.id}/commands`)[0]!.body).toEqual({
      kind: 'restart-container',
      container: 'db',
    });

    fireEvent.click(screen.getByRole('button', { name: 'Reboot device…' }));
    const reboot = screen.getByRole('alertdialog', { name: 'Reboot gate-7?' });
    fireEvent.keyDown(reboot, { key: 'Escape' });
    expect(screen.queryByRole('alertdialog')).toBeNull();
    fireEvent.click(screen.getByRole('button', { name: 'Reboot device…' }));
    fireEvent.click(within(screen.getByRole('alertdialog')).getByRole('button', { name: 'Reboot' }));
    await waitFor(() => expect(hub.calls('POST', `/api/v1/devices/${d.id}/commands`)).toHaveLength(2));
    expect(hub.calls('POST', `/api/v1/devices/${d.id}/commands`)[1]!.body).toEqual({ kind: 'reboot' });
  });

  it('adds and removes tags in place, checking them first; viewers only read them', async () => {
    const { hub, d } = deviceHub();
    hub.on('PUT /api/v1/devices/:id/tags', (req: RecordedRequest) => ({
      ...d,
      tags: (req.body as { tags: string[] }).tags,
    }));
    renderApp(`/devices/${d.id}`, hub);
    const facts = await screen.findByRole('region', { name: 'Identity' });
    fireEvent.change(within(facts).getByLabelText('New tag'), { target: { value: 'Not A Tag' } });
    fireEvent.click(within(facts).getByRole('button', { name: 'Add tag' }));
    expect((await within(facts).findByRole('alert')).textContent).toMatch(/key=value/);
    fireEvent.change(within(facts).getByLabelText('New tag'), { target: { value: 'ring=canary' } });
    fireEvent.click(within(facts).getByRole('button', { name: 'Add tag' }));
    expect(await within(facts).findByText('ring=canary')).toBeTruthy();
    expect(hub.calls('PUT', `/api/v1/devices/${d.id}/tags`)[0]!.body).toEqual({
      tags: ['site=berlin', 'ring=canary'],
    });
    fireEvent.click(within(facts).getByRole('button', { name: 'Remove tag site=berlin' }));
    await waitFor(() =>
      expect(hub.calls('PUT', `/api/v1/devices/${d.id}/tags`)[1]?.body).toEqual({ tags: ['ring=canary'] }),
    );
  });

  it('shows a viewer the tags without editing controls', async () => {
    const { hub, d } = deviceHub();
    renderApp(`/devices/${d.id}`, hub, { role: 'viewer' });
    const facts = await screen.findByRole('region', { name: 'Identity' });
    expect(within(facts).getByText('site=berlin')).toBeTruthy();
    expect(within(facts).queryByRole('button')).toBeNull();
  });

  it('says when the device does not exist', async () => {
    const { hub } = deviceHub();
    hub.on('GET /api/v1/devices/:id', { status: 404, body: { statusCode: 404, message: 'no device x' } });
    renderApp(`/devices/${uuid()}`, hub);
    expect((await screen.findByRole('alert')).textContent).toContain('No such device');
  });
});

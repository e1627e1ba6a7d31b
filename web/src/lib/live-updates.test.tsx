import type { Device, Page } from '@fleet/protocol/browser';
import { act, screen, waitFor, within } from '@testing-library/react';
import { QueryClient, type InfiniteData } from '@tanstack/react-query';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { aDevice, aFleet, aRollout } from '../test/builders.js';
import { FakeHub } from '../test/fake-hub.js';
import { appStream, renderApp } from '../test/render.js';
import { applyHubEvent, InvalidationBatcher } from './live-updates.js';

describe('applyHubEvent', () => {
  let qc: QueryClient;
  let batch: InvalidationBatcher;
  beforeEach(() => {
    vi.useFakeTimers();
    qc = new QueryClient();
    batch = new InvalidationBatcher(qc, 500);
  });
  afterEach(() => {
    batch.dispose();
    vi.useRealTimers();
  });

  it('patches a device in every cached list page and its detail, without refetching', () => {
    const a = aDevice({ online: true });
    const b = aDevice({ online: true });
    qc.setQueryData<InfiniteData<Page<Device>>>(['devices', 'list', { sort: 'name' }], {
      pages: [{ items: [a, b], nextCursor: null }],
      pageParams: [undefined],
    });
    qc.setQueryData(['devices', 'detail', b.id], { ...b, containers: [] });
    applyHubEvent(qc, batch, {
      type: 'device.presence',
      scope: 'devices',
      minRole: 'viewer',
      at: 'x',
      deviceId: b.id,
      data: { state: 'offline', at: '2026-11-30T13:00:00.000Z' },
    });
    const list = qc.getQueryData<InfiniteData<Page<Device>>>(['devices', 'list', { sort: 'name' }])!;
    expect(list.pages[0]!.items.map((d) => d.online)).toEqual([true, false]);
    expect(list.pages[0]!.items[1]!.lastSeenAt).toBe('2026-11-30T13:00:00.000Z');
    expect(list.pages[0]!.items[0]).toBe(a);
    expect(qc.getQueryData<Device>(['devices', 'detail', b.id])!.online).toBe(false);
  });

  it('coalesces a burst of events into one invalidation per key', async () => {
    const spy = vi.spyOn(qc, 'invalidateQueries');
    for (let i = 0; i < 1000; i++)
      applyHubEvent(qc, batch, {
        type: 'device.presence',
        scope: 'devices',
        minRole: 'viewer',
        at: 'x',
        deviceId: `d${i}`,
        data: { state: 'online' },
      });
    expect(spy).not.toHaveBeenCalled();
    await vi.advanceTimersByTimeAsync(500);
    expect(spy.mock.calls.map((c) => c[0]?.queryKey)).toEqual([['devices', 'summary']]);
  });

  it('records progress on the device and refreshes its history and the rollouts', async () => {
    const d = aDevice();
    qc.setQueryData<InfiniteData<Page<Device>>>(['devices', 'list', {}], {
      pages: [{ items: [d], nextCursor: null }],
      pageParams: [undefined],
    });
    const spy = vi.spyOn(qc, 'invalidateQueries');
    applyHubEvent(qc, batch, {
      type: 'device.progress',
      scope: 'devices',
      minRole: 'viewer',
      at: 'x',
      deviceId: d.id,
      data: { status: 'failed', state: 'idle', reason: 'crash-loop' },
    });
    const item = qc.getQueryData<InfiniteData<Page<Device>>>(['devices', 'list', {}])!.pages[0]!.items[0]!;
    expect([item.updateStatus, item.updateReason]).toEqual(['failed', 'crash-loop']);
    await vi.advanceTimersByTimeAsync(500);
    const keys = spy.mock.calls.map((c) => JSON.stringify(c[0]?.queryKey));
    expect(keys).toContain(JSON.stringify(['devices', 'updates', d.id]));
    expect(keys).toContain(JSON.stringify(['rollouts']));
  });

  it('ignores events it has no use for', async () => {
    const spy = vi.spyOn(qc, 'invalidateQueries');
    applyHubEvent(qc, batch, { type: 'audit.entry', scope: 'audit', minRole: 'viewer', at: 'x', data: {} });
    applyHubEvent(qc, batch, {
      type: 'device.presence',
      scope: 'devices',
      minRole: 'viewer',
      at: 'x',
      data: { state: 'online' },
    });
    await vi.advanceTimersByTimeAsync(1000);
    expect(spy).not.toHaveBeenCalled();
  });
});

describe('live updates in the app', () => {
  it('updates the device list when the hub says a device went offline, with no polling', async () => {
    const d = aDevice({ name: 'gate-1', online: true });
    const hub = new FakeHub()
      .on('GET /api/v1/fleets', [aFleet()])
      .on('GET /api/v1/tags', [])
      .on('GET /api/v1/devices', { items: [d], nextCursor: null });
    renderApp('/devices', hub);
    const row = (await screen.findByRole('link', { name: 'gate-1' })).closest('[role=row]') as HTMLElement;
    expect(within(row).getByText('● online')).toBeTruthy();
    const stream = appStream();
    act(() => stream.open());
    expect(screen.getByRole('status', { name: 'Live updates connected' })).toBeTruthy();
    act(() =>
      stream.emit('device.presence', {
        deviceId: d.id,
        data: { state: 'offline', at: new Date().toISOString() },
      }),
    );
    expect(await within(row).findByText('○ offline')).toBeTruthy();
    expect(hub.calls('GET', '/api/v1/devices')).toHaveLength(1);
  });

  it('refetches what is on screen after the stream reconnects (events are not replayed)', async () => {
    const hub = new FakeHub()
      .on('GET /api/v1/fleets', [])
      .on('GET /api/v1/tags', [])
      .on('GET /api/v1/rollouts', { items: [aRollout()], nextCursor: null })
      .on('GET /api/v1/devices/summary', {
        total: 1,
        online: 1,
        offline: 0,
        updating: 0,
        failed: 0,
        releases: [],
      })
      .on('GET /api/v1/devices', { items: [], nextCursor: null });
    renderApp('/', hub);
    await screen.findByText('Release 1.1.0');
    const stream = appStream();
    act(() => stream.open());
    act(() => stream.onerror?.(new Event('error')));
    expect(screen.getByRole('status', { name: 'Live updates connecting' })).toBeTruthy();
    act(() => stream.open());
    await waitFor(() => expect(hub.calls('GET', '/api/v1/devices/summary')).toHaveLength(2));
  });
});

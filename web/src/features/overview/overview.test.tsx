import { screen, within } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { aDevice, aRollout } from '../../test/builders.js';
import { FakeHub } from '../../test/fake-hub.js';
import { renderApp } from '../../test/render.js';
import { groupFailures } from '../devices/api/list-recent-failures.js';

function hub() {
  return new FakeHub()
    .on('GET /api/v1/devices/summary', {
      total: 100,
      online: 80,
      offline: 20,
      updating: 5,
      failed: 3,
      releases: [
        { release: '1.1.0', count: 60 },
        { release: '1.0.0', count: 38 },
        { release: null, count: 2 },
      ],
    })
    .on('GET /api/v1/devices', {
      items: [
        aDevice({ name: 'a', updateStatus: 'failed', updateReason: 'health-check-failed' }),
        aDevice({ name: 'b', updateStatus: 'failed', updateReason: 'health-check-failed' }),
        aDevice({ name: 'c', updateStatus: 'rolled-back', updateReason: 'boot-failed' }),
      ],
      nextCursor: null,
    })
    .on('GET /api/v1/rollouts', { items: [aRollout()], nextCursor: null });
}

describe('fleet overview', () => {
  it('shows status counts linking to the filtered device list', async () => {
    renderApp('/', hub());
    const failed = await screen.findByRole('link', { name: '3 failed devices' });
    expect(failed.getAttribute('href')).toBe('/devices?status=failed');
    expect(screen.getByRole('link', { name: '80 online devices' })).toBeTruthy();
    expect(screen.getByRole('link', { name: '5 updating devices' })).toBeTruthy();
    expect(screen.getByRole('link', { name: '20 offline devices' })).toBeTruthy();
  });

  it('shows the release distribution, active rollouts and failures grouped by reason', async () => {
    const h = hub();
    renderApp('/', h);
    const dist = await screen.findByRole('region', { name: 'Release distribution' });
    expect(within(dist).getByText('60 (60%)')).toBeTruthy();
    expect(within(dist).getByText('no release reported')).toBeTruthy();
    const active = screen.getByRole('region', { name: 'Active rollouts' });
    expect(
      await within(active).findByRole('progressbar', { name: 'Progress of rollout 1.1.0' }),
    ).toBeTruthy();
    const fails = screen.getByRole('region', { name: 'Recent failures by reason' });
    const groups = within(fails).getAllByRole('listitem');
    expect(groups[0]!.textContent).toMatch(/^Health check failed 2/);
    expect(groups[1]!.textContent).toMatch(/^Boot failed 1/);
    const q = h.calls('GET', '/api/v1/devices')[0]!.url.searchParams;
    expect([q.get('status'), q.get('sort')]).toEqual(['failed', '-lastSeenAt']);
  });

  it('still shows device counts when the rollouts API is missing', async () => {
    const h = hub().on('GET /api/v1/rollouts', {
      status: 404,
      body: { statusCode: 404, message: 'Cannot GET /api/v1/rollouts' },
    });
    renderApp('/', h);
    expect(await screen.findByRole('link', { name: '3 failed devices' })).toBeTruthy();
    expect(
      (await within(screen.getByRole('region', { name: 'Active rollouts' })).findByRole('alert')).textContent,
    ).toContain('Rollouts unavailable');
  });

  it('groups failures largest first and keeps a few example devices', () => {
    const devices = Array.from({ length: 8 }, (_, i) =>
      aDevice({ updateReason: i < 7 ? 'crash-loop' : null }),
    );
    const g = groupFailures(devices);
    expect(g.map((x) => [x.reason, x.count, x.devices.length])).toEqual([
      ['crash-loop', 7, 5],
      [null, 1, 1],
    ]);
  });
});

import { act, fireEvent, screen, waitFor, within } from '@testing-library/react';
import type { RolloutDevice } from '@fleet/protocol/browser';
import { describe, expect, it } from 'vitest';
import { aDryRun, aFleet, aRelease, aRollout, FLEET_ID } from '../../test/builders.js';
import { FakeHub } from '../../test/fake-hub.js';
import { appStream, renderApp } from '../../test/render.js';

function hub() {
  let rollout = aRollout();
  const h = new FakeHub()
    .on('GET /api/v1/releases', { items: [aRelease()], nextCursor: null })
    .on('GET /api/v1/fleets', [aFleet()])
    .on('GET /api/v1/tags', [{ tag: 'canary', count: 2 }])
    .on('POST /api/v1/rollouts/dry-run', aDryRun())
    .on('POST /api/v1/rollouts', () => rollout)
    .on('GET /api/v1/rollouts', () => ({ items: [rollout], nextCursor: null }))
    .on('GET /api/v1/rollouts/:id', () => rollout)
    .on('GET /api/v1/rollouts/:id/devices', {
      items: [
        {
          deviceId: '00000000-0000-4000-8000-000000000042',
          deviceName: 'dev-x',
          phase: 1,
          state: 'failed',
          updateId: 'u-1',
          reason: 'health-check-failed',
          previousReleaseId: null,
          dispatchedAt: '2026-11-30T11:00:00Z',
          lastProgressAt: '2026-11-30T12:00:00Z',
          finishedAt: '2026-11-30T12:00:00Z',
          dispatchCount: 1,
          rollbackUpdateId: null,
        } satisfies RolloutDevice,
      ],
      nextCursor: null,
    })
    .on('POST /api/v1/rollouts/:id/pause', () => (rollout = { ...rollout, state: 'paused' }));
  return { h, set: (r: typeof rollout) => (rollout = r) };
}

describe('rollout wizard', () => {
  it('shows the dry run before starting, then starts with the chosen settings', async () => {
    const { h } = hub();
    const r = renderApp('/rollouts/new?release=1.1.0', h);
    const release = (await screen.findByLabelText('Release')) as HTMLSelectElement;
    expect(release.value).toBe('1.1.0');
    fireEvent.click(screen.getByRole('button', { name: 'Next' }));
    expect((await screen.findByRole('alert')).textContent).toBe('choose a fleet');
    fireEvent.change(await screen.findByLabelText('Fleet'), { target: { value: FLEET_ID } });
    fireEvent.click(await screen.findByRole('checkbox', { name: /canary/ }));
    fireEvent.click(screen.getByRole('button', { name: 'Next' }));

    fireEvent.change(await screen.findByLabelText('Phases (device counts or cumulative percents)'), {
      target: { value: '1,50%' },
    });
    fireEvent.click(screen.getByRole('button', { name: 'Run dry run' }));
    expect((await screen.findByRole('alert')).textContent).toContain('the last phase must be 100%');
    expect(h.calls('POST', '/api/v1/rollouts/dry-run')).toHaveLength(0);
    fireEvent.change(screen.getByLabelText('Phases (device counts or cumulative percents)'), {
      target: { value: '1,100%' },
    });
    fireEvent.change(screen.getByLabelText('Bake time per phase (minutes)'), { target: { value: '5' } });
    fireEvent.click(screen.getByRole('button', { name: 'Run dry run' }));

    const dry = await screen.findByRole('region', { name: 'Dry run: release 1.1.0' });
    expect(within(dry).getByText('10.0 MiB')).toBeTruthy();
    expect(within(dry).getByRole('row', { name: /dev-c/ }).textContent).toContain(
      'beaglebone (incompatible)',
    );
    expect(h.calls('POST', '/api/v1/rollouts')).toHaveLength(0);

    fireEvent.click(screen.getByRole('button', { name: 'Start rollout to 2 devices' }));
    await waitFor(() => expect(r.location()).toBe(`/rollouts/${aRollout().id}`));
    const body = h.calls('POST', '/api/v1/rollouts')[0]!.body;
    expect(body).toEqual(h.calls('POST', '/api/v1/rollouts/dry-run')[0]!.body);
    expect(body).toMatchObject({
      release: '1.1.0',
      fleet: FLEET_ID,
      tags: ['canary'],
      deviceIds: [],
      phases: [
        { count: 1, bakeSeconds: 300 },
        { percent: 100, bakeSeconds: 300 },
      ],
    });
  });

  it('shows why the dry run failed and does not offer to start', async () => {
    const { h } = hub();
    h.on('POST /api/v1/rollouts/dry-run', {
      status: 409,
      body: { statusCode: 409, message: 'release 1.1.0 is yanked' },
    });
    renderApp('/rollouts/new?release=1.1.0', h);
    await screen.findByRole('option', { name: /lab/ });
    fireEvent.change(screen.getByLabelText('Fleet'), { target: { value: FLEET_ID } });
    fireEvent.click(screen.getByRole('button', { name: 'Next' }));
    fireEvent.click(await screen.findByRole('button', { name: 'Run dry run' }));
    expect((await screen.findByRole('alert')).textContent).toContain('release 1.1.0 is yanked');
    expect((screen.getByRole('button', { name: /Start rollout/ }) as HTMLButtonElement).disabled).toBe(true);
  });
});

describe('rollout page', () => {
  it('shows progress per phase, failures by reason and the devices', async () => {
    const { h } = hub();
    renderApp(`/rollouts/${aRollout().id}`, h);
    const overall = await screen.findByRole('progressbar', { name: 'Overall progress' });
    expect(overall.getAttribute('aria-valuetext')).toBe(
      '4 of 10: 4 succeeded, 2 in progress, 1 failed, 3 pending',
    );
    expect(screen.getByRole('progressbar', { name: 'Phase 2 progress' }).getAttribute('aria-valuenow')).toBe(
      '3',
    );
    expect(
      within(screen.getByRole('region', { name: 'Failures by reason' })).getByText('Health check failed'),
    ).toBeTruthy();
    expect(await screen.findByRole('link', { name: 'dev-x' })).toBeTruthy();
  });

  it('moves live when the hub reports rollout progress', async () => {
    const { h, set } = hub();
    renderApp(`/rollouts/${aRollout().id}`, h);
    await screen.findByRole('progressbar', { name: 'Overall progress' });
    const stream = appStream();
    const next = aRollout();
    set({ ...next, counts: { ...next.counts, succeeded: 7, pending: 0 } });
    act(() => stream.emit('rollout.progress', { data: { rolloutId: next.id } }));
    await waitFor(
      () =>
        expect(
          screen.getByRole('progressbar', { name: 'Overall progress' }).getAttribute('aria-valuenow'),
        ).toBe('7'),
      { timeout: 3000 },
    );
  });

  it('pauses only after confirmation', async () => {
    const { h } = hub();
    renderApp(`/rollouts/${aRollout().id}`, h);
    fireEvent.click(await screen.findByRole('button', { name: 'Pause…' }));
    const dialog = screen.getByRole('alertdialog', { name: 'Pause this rollout?' });
    expect(h.calls('POST', `/api/v1/rollouts/${aRollout().id}/pause`)).toHaveLength(0);
    fireEvent.click(within(dialog).getByRole('button', { name: 'Pause' }));
    expect(await screen.findByRole('button', { name: 'Resume…' })).toBeTruthy();
    expect(h.calls('POST', `/api/v1/rollouts/${aRollout().id}/pause`)).toHaveLength(1);
    expect(screen.getByText('paused')).toBeTruthy();
  });

  it('offers rollback with its warning, and nothing once rolled back', async () => {
    const { h, set } = hub();
    renderApp(`/rollouts/${aRollout().id}`, h);
    fireEvent.click(await screen.findByRole('button', { name: 'Roll back…' }));
    expect(within(screen.getByRole('alertdialog')).getByText(/last good revision/)).toBeTruthy();
    fireEvent.click(screen.getByRole('button', { name: 'Cancel' }));
    set({ ...aRollout(), state: 'rolled-back' });
    act(() => appStream().emit('rollout.progress', { data: { rolloutId: aRollout().id } }));
    await waitFor(() => expect(screen.queryByRole('group', { name: 'Rollout actions' })).toBeNull(), {
      timeout: 3000,
    });
  });

  it('lists rollouts filtered by state from the URL', async () => {
    const { h } = hub();
    renderApp('/rollouts?state=running', h);
    expect(await screen.findByRole('link', { name: 'Release 1.1.0' })).toBeTruthy();
    expect(h.calls('GET', '/api/v1/rollouts')[0]!.url.searchParams.get('state')).toBe('running');
  });
});

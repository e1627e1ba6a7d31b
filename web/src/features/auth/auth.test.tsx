import { fireEvent, screen, waitFor } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { aDeviceDetail, aRollout, me } from '../../test/builders.js';
import { FakeHub } from '../../test/fake-hub.js';
import { renderApp } from '../../test/render.js';
import { safeNext } from './routes/login.js';

function baseHub() {
  return new FakeHub()
    .on('GET /api/v1/devices', { items: [], nextCursor: null })
    .on('GET /api/v1/fleets', [])
    .on('GET /api/v1/tags', []);
}

describe('login and session', () => {
  it('sends a visitor without a session to the login page, remembering where they were going', async () => {
    const r = renderApp('/devices?status=failed', baseHub(), { role: null });
    await screen.findByRole('heading', { name: 'Sign in to fleet' });
    expect(r.location()).toBe(`/login?next=${encodeURIComponent('/devices?status=failed')}`);
  });

  it('says so when the hub refuses the credentials, and does not leave the page', async () => {
    const hub = baseHub().on('POST /api/v1/auth/login', {
      status: 401,
      body: { statusCode: 401, message: 'invalid credentials' },
    });
    renderApp('/login', hub, { role: null });
    fireEvent.change(await screen.findByLabelText('E-mail'), { target: { value: 'ops@example.com' } });
    fireEvent.change(screen.getByLabelText('Password'), { target: { value: 'nope' } });
    fireEvent.click(screen.getByRole('button', { name: 'Sign in' }));
    expect((await screen.findByRole('alert')).textContent).toBe('Wrong e-mail or password.');
    expect(hub.calls('POST', '/api/v1/auth/login')[0]?.body).toEqual({
      email: 'ops@example.com',
      password: 'nope',
    });
  });

  it('checks the form before asking the hub', async () => {
    const hub = baseHub();
    renderApp('/login', hub, { role: null });
    fireEvent.click(await screen.findByRole('button', { name: 'Sign in' }));
    expect(await screen.findByText('enter an e-mail address')).toBeTruthy();
    expect(screen.getByText('enter your password')).toBeTruthy();
    expect(hub.calls('POST', '/api/v1/auth/login')).toHaveLength(0);
  });

  it('logs in and continues to the page named in ?next=', async () => {
    const hub = baseHub().on('POST /api/v1/auth/login', {
      user: {
        id: me('operator').userId,
        email: 'operator@example.com',
        role: 'operator',
        disabled: false,
        createdAt: '2026-11-01T00:00:00Z',
        lastLoginAt: null,
      },
      expiresAt: '2026-12-01T00:00:00Z',
    });
    const r = renderApp('/login?next=%2Fdevices', hub, { role: null });
    fireEvent.change(await screen.findByLabelText('E-mail'), { target: { value: 'operator@example.com' } });
    fireEvent.change(screen.getByLabelText('Password'), { target: { value: 'correct horse' } });
    fireEvent.click(screen.getByRole('button', { name: 'Sign in' }));
    await screen.findByRole('heading', { name: 'Devices' });
    expect(r.location()).toBe('/devices');
    expect(screen.getByText('operator@example.com')).toBeTruthy();
  });

  it('goes back to the login page when the session ends mid-use (any 401)', async () => {
    const hub = baseHub().on('GET /api/v1/devices/:id', {
      status: 401,
      body: { statusCode: 401, message: 'credentials expired' },
    });
    const r = renderApp('/devices/00000000-0000-4000-8000-000000000001', hub);
    await screen.findByRole('heading', { name: 'Sign in to fleet' });
    expect(r.location()).toMatch(/^\/login\?next=/);
  });

  it('only follows same-app paths after login', () => {
    expect(safeNext('/devices?q=a')).toBe('/devices?q=a');
    expect(safeNext('//evil.example/x')).toBe('/');
    expect(safeNext('https://evil.example')).toBe('/');
    expect(safeNext('/login?next=/x')).toBe('/');
    expect(safeNext(null)).toBe('/');
  });
});

describe('role-aware UI', () => {
  function deviceHub() {
    const d = aDeviceDetail();
    const hub = baseHub()
      .on('GET /api/v1/devices/:id', d)
      .on('GET /api/v1/devices/:id/telemetry', [])
      .on('GET /api/v1/devices/:id/logs', { items: [], nextCursor: null })
      .on('GET /api/v1/devices/:id/updates', { items: [], nextCursor: null })
      .on('GET /api/v1/devices/:id/commands', [])
      .on('GET /api/v1/rollouts/:id', aRollout())
      .on('GET /api/v1/rollouts/:id/devices', { items: [], nextCursor: null });
    return { hub, d };
  }

  it('shows a viewer no mutating controls on a device', async () => {
    const { hub, d } = deviceHub();
    renderApp(`/devices/${d.id}`, hub, { role: 'viewer' });
    await screen.findByRole('heading', { name: 'Containers' });
    expect(screen.queryByRole('button', { name: /Reboot/ })).toBeNull();
    expect(screen.queryByRole('button', { name: /Restart/ })).toBeNull();
  });

  it('shows an operator the device commands', async () => {
    const { hub, d } = deviceHub();
    renderApp(`/devices/${d.id}`, hub, { role: 'operator' });
    expect(await screen.findByRole('button', { name: 'Reboot device…' })).toBeTruthy();
    expect(screen.getByRole('button', { name: 'Restart web' })).toBeTruthy();
  });

  it('shows a viewer no rollout actions and no user administration', async () => {
    const { hub } = deviceHub();
    renderApp(`/rollouts/${aRollout().id}`, hub, { role: 'viewer' });
    await screen.findByRole('heading', { name: 'Phases' });
    expect(screen.queryByRole('group', { name: 'Rollout actions' })).toBeNull();
    expect(screen.queryByRole('link', { name: 'Users' })).toBeNull();
  });

  it('signs out through the hub and returns to the login page', async () => {
    const { hub, d } = deviceHub();
    hub.on('POST /api/v1/auth/logout', { status: 204 });
    const r = renderApp(`/devices/${d.id}`, hub, { role: 'viewer' });
    fireEvent.click(await screen.findByRole('button', { name: 'Sign out' }));
    await waitFor(() => expect(r.location()).toBe('/login'));
    expect(hub.calls('POST', '/api/v1/auth/logout')).toHaveLength(1);
  });
});

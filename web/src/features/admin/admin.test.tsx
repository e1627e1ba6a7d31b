import { fireEvent, screen, waitFor, within } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { me, uuid } from '../../test/builders.js';
import { FakeHub } from '../../test/fake-hub.js';
import { renderApp } from '../../test/render.js';

const alice = {
  id: uuid(321),
  email: 'alice@example.com',
  role: 'viewer',
  disabled: false,
  createdAt: '2026-11-01T00:00:00Z',
  lastLoginAt: null,
};
const self = { ...alice, id: me('admin').userId, email: 'admin@example.com', role: 'admin' };
const tok = {
  id: uuid(322),
  userId: self.id,
  name: 'ci',
  role: 'operator',
  scopes: ['releases'],
  createdAt: '2026-11-01T00:00:00Z',
  expiresAt: null,
  revokedAt: null,
  lastUsedAt: null,
};

function hub() {
  return new FakeHub()
    .on('GET /api/v1/users', [self, alice])
    .on('POST /api/v1/users', { ...alice, id: uuid(), email: 'bob@example.com' })
    .on('PATCH /api/v1/users/:id', { ...alice, role: 'operator' })
    .on('GET /api/v1/tokens', [tok])
    .on('POST /api/v1/tokens', { ...tok, id: uuid(), name: 'deploy', token: 'fat_only_once' })
    .on('DELETE /api/v1/tokens/:id', { status: 204 });
}

describe('users (admins)', () => {
  it('lists users, changes a role, and disables after confirmation; never oneself', async () => {
    const h = hub();
    renderApp('/users', h, { role: 'admin' });
    const row = (await screen.findByText('alice@example.com')).closest('tr')!;
    fireEvent.change(within(row).getByLabelText('Role of alice@example.com'), {
      target: { value: 'operator' },
    });
    await waitFor(() =>
      expect(h.calls('PATCH', `/api/v1/users/${alice.id}`)[0]?.body).toEqual({ role: 'operator' }),
    );
    fireEvent.click(within(row).getByRole('button', { name: 'Disable alice@example.com' }));
    fireEvent.click(within(screen.getByRole('alertdialog')).getByRole('button', { name: 'Disable' }));
    await waitFor(() =>
      expect(h.calls('PATCH', `/api/v1/users/${alice.id}`)[1]?.body).toEqual({ disabled: true }),
    );
    const mine = screen.getByText('admin@example.com', { selector: 'th' }).closest('tr')!;
    expect((within(mine).getByLabelText('Role of admin@example.com') as HTMLSelectElement).disabled).toBe(
      true,
    );
    expect(within(mine).queryByRole('button')).toBeNull();
  });

  it('creates a user with a checked password', async () => {
    const h = hub();
    renderApp('/users', h, { role: 'admin' });
    const form = await screen.findByRole('form', { name: 'Create a user' });
    fireEvent.change(within(form).getByLabelText('E-mail'), { target: { value: 'bob@example.com' } });
    fireEvent.change(within(form).getByLabelText('Initial password'), { target: { value: 'short' } });
    fireEvent.click(within(form).getByRole('button', { name: 'Create user' }));
    expect((await within(form).findByRole('alert')).textContent).toContain(
      'password: at least 10 characters',
    );
    fireEvent.change(within(form).getByLabelText('Initial password'), {
      target: { value: 'long enough pw' },
    });
    fireEvent.change(within(form).getByLabelText('Role'), { target: { value: 'operator' } });
    fireEvent.click(within(form).getByRole('button', { name: 'Create user' }));
    await waitFor(() =>
      expect(h.calls('POST', '/api/v1/users')[0]?.body).toEqual({
        email: 'bob@example.com',
        password: 'long enough pw',
        role: 'operator',
      }),
    );
  });

  it('refuses the page to non-admins without asking the hub', async () => {
    const h = hub();
    renderApp('/users', h, { role: 'operator' });
    expect((await screen.findByRole('alert')).textContent).toContain('needs the admin role');
    expect(h.calls('GET', '/api/v1/users')).toHaveLength(0);
  });
});

describe('API tokens', () => {
  it('creates a scoped token, shows it once, and revokes after confirmation', async () => {
    const h = hub();
    renderApp('/tokens', h, { role: 'admin' });
    const form = await screen.findByRole('form', { name: 'Create an API token' });
    fireEvent.change(within(form).getByLabelText('Token name'), { target: { value: 'deploy' } });
    fireEvent.change(within(form).getByLabelText('Role'), { target: { value: 'operator' } });
    fireEvent.click(within(form).getByRole('checkbox', { name: 'releases' }));
    fireEvent.click(within(form).getByRole('checkbox', { name: 'objects' }));
    fireEvent.click(within(form).getByRole('button', { name: 'Create token' }));
    expect(await screen.findByText('fat_only_once')).toBeTruthy();
    expect(h.calls('POST', '/api/v1/tokens')[0]!.body).toEqual({
      name: 'deploy',
      role: 'operator',
      scopes: ['releases', 'objects'],
      expiresInDays: 90,
    });
    fireEvent.click(screen.getByRole('button', { name: 'Revoke ci' }));
    fireEvent.click(within(screen.getByRole('alertdialog')).getByRole('button', { name: 'Revoke' }));
    await waitFor(() => expect(h.calls('DELETE', `/api/v1/tokens/${tok.id}`)).toHaveLength(1));
  });

  it('lets an admin list every user’s tokens', async () => {
    const h = hub();
    renderApp('/tokens', h, { role: 'admin' });
    fireEvent.click(await screen.findByRole('checkbox', { name: /All users' tokens/ }));
    await waitFor(() =>
      expect(h.calls('GET', '/api/v1/tokens').at(-1)!.url.searchParams.get('all')).toBe('true'),
    );
  });

  it('offers a viewer only roles up to their own', async () => {
    renderApp('/tokens', hub(), { role: 'viewer' });
    const role = await screen.findByLabelText('Role');
    expect([...(role as HTMLSelectElement).options].map((o) => o.value)).toEqual(['', 'viewer']);
  });
});

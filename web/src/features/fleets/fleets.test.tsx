import { fireEvent, screen, waitFor, within } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { aFleet, FLEET_ID, uuid } from '../../test/builders.js';
import { FakeHub } from '../../test/fake-hub.js';
import { renderApp } from '../../test/render.js';

const token = {
  id: uuid(555),
  fleetId: FLEET_ID,
  name: 'factory',
  tags: ['site=berlin'],
  maxUses: 10,
  uses: 3,
  expiresAt: null,
  revokedAt: null,
  createdAt: '2026-11-30T00:00:00Z',
  createdBy: 'user:x',
};

function hub() {
  return new FakeHub()
    .on('GET /api/v1/fleets', [aFleet()])
    .on('POST /api/v1/fleets', { ...aFleet({ id: uuid(), name: 'kiosks' }) })
    .on('GET /api/v1/fleets/:f/claim-tokens', [token])
    .on('POST /api/v1/fleets/:f/claim-tokens', {
      ...token,
      id: uuid(),
      name: 'line-2',
      token: 'fct_secret_value',
    })
    .on('DELETE /api/v1/claim-tokens/:id', { ...token, revokedAt: '2026-11-30T12:00:00Z' });
}

describe('fleets and claim tokens', () => {
  it('lists fleets with device counts linking to the filtered device list', async () => {
    renderApp('/fleets', hub());
    const link = await screen.findByRole('link', { name: '3 devices' });
    expect(link.getAttribute('href')).toBe(`/devices?fleetId=${FLEET_ID}`);
  });

  it('creates a fleet, checking the name first', async () => {
    const h = hub();
    renderApp('/fleets', h);
    const form = await screen.findByRole('form', { name: 'Create a fleet' });
    fireEvent.change(within(form).getByLabelText('New fleet name'), { target: { value: 'Bad Name' } });
    fireEvent.click(within(form).getByRole('button', { name: 'Create fleet' }));
    expect((await within(form).findByRole('alert')).textContent).toContain('lower-case');
    expect(h.calls('POST', '/api/v1/fleets')).toHaveLength(0);
    fireEvent.change(within(form).getByLabelText('New fleet name'), { target: { value: 'kiosks' } });
    fireEvent.click(within(form).getByRole('button', { name: 'Create fleet' }));
    await waitFor(() =>
      expect(h.calls('POST', '/api/v1/fleets')[0]?.body).toEqual({ name: 'kiosks', description: '' }),
    );
  });

  it('creates a claim token and shows its secret once; revokes after confirmation', async () => {
    const h = hub();
    renderApp('/fleets', h);
    fireEvent.click(await screen.findByRole('button', { name: 'Claim tokens' }));
    const panel = await screen.findByRole('region', { name: 'Claim tokens' });
    expect(await within(panel).findByText('3 / 10')).toBeTruthy();
    fireEvent.change(within(panel).getByLabelText('Token name'), { target: { value: 'line-2' } });
    fireEvent.change(within(panel).getByLabelText('Tags for new devices'), {
      target: { value: 'site=paris, line=2' },
    });
    fireEvent.change(within(panel).getByLabelText('Expires in (hours)'), { target: { value: '48' } });
    fireEvent.click(within(panel).getByRole('button', { name: 'Create claim token' }));
    expect(await within(panel).findByText('fct_secret_value')).toBeTruthy();
    expect(h.calls('POST', `/api/v1/fleets/${FLEET_ID}/claim-tokens`)[0]!.body).toEqual({
      name: 'line-2',
      tags: ['site=paris', 'line=2'],
      expiresInHours: 48,
    });

    fireEvent.click(within(panel).getByRole('button', { name: 'Revoke factory' }));
    fireEvent.click(
      within(screen.getByRole('alertdialog', { name: 'Revoke claim token factory?' })).getByRole('button', {
        name: 'Revoke',
      }),
    );
    await waitFor(() => expect(h.calls('DELETE', `/api/v1/claim-tokens/${token.id}`)).toHaveLength(1));
  });

  it('shows a viewer no claim tokens and no create form', async () => {
    renderApp('/fleets', hub(), { role: 'viewer' });
    await screen.findByRole('link', { name: '3 devices' });
    expect(screen.queryByRole('button', { name: 'Claim tokens' })).toBeNull();
    expect(screen.queryByRole('form', { name: 'Create a fleet' })).toBeNull();
  });
});

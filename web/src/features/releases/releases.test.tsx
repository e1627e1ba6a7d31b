import { fireEvent, screen, waitFor, within } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { aRelease } from '../../test/builders.js';
import { FakeHub } from '../../test/fake-hub.js';
import { renderApp } from '../../test/render.js';

function hub() {
  const r = aRelease();
  return {
    r,
    hub: new FakeHub()
      // The older page holds other releases: the same ids twice would be a hub bug (and React
      // warns about duplicate keys).
      .on('GET /api/v1/releases', (req) =>
        req.url.searchParams.get('cursor') === 'c1'
          ? { items: [aRelease({ version: '0.9.0', sequence: 0 })], nextCursor: null }
          : {
              items: [
                r,
                aRelease({
                  version: '1.0.0',
                  sequence: 1,
                  yankedAt: '2026-11-29T00:00:00Z',
                  yankReason: 'bad',
                }),
              ],
              nextCursor: 'c1',
            },
      )
      .on('GET /api/v1/releases/:v', r)
      .on('GET /api/v1/keys', [
        {
          keyId: '0123456789abcdef',
          alg: 'ed25519',
          publicKey: 'x',
          name: 'release-2026',
          createdAt: '2026-01-01T00:00:00Z',
          revokedAt: null,
        },
      ])
      .on('POST /api/v1/releases/:v/yank', { ...r, yankedAt: '2026-11-30T00:00:00Z', yankReason: 'broken' }),
  };
}

describe('releases', () => {
  it('lists releases with boards and marks yanked ones; older pages on demand', async () => {
    const { hub: h } = hub();
    renderApp('/releases', h);
    const row = (await screen.findByRole('link', { name: '1.1.0' })).closest('tr')!;
    expect(within(row).getByText('qemu-aarch64, raspberrypi4-64')).toBeTruthy();
    expect(
      within(screen.getByRole('link', { name: '1.0.0' }).closest('tr')!).getByText('yanked'),
    ).toBeTruthy();
    fireEvent.click(screen.getByRole('button', { name: 'Load older releases' }));
    await waitFor(() => expect(h.calls('GET', '/api/v1/releases')).toHaveLength(2));
    expect(h.calls('GET', '/api/v1/releases')[1]!.url.searchParams.get('cursor')).toBe('c1');
    expect(await screen.findByRole('link', { name: '0.9.0' })).toBeTruthy();
    expect(screen.getByRole('link', { name: '1.1.0' })).toBeTruthy();
  });

  it('shows containers, images, object sizes, signatures and compatible boards', async () => {
    const { hub: h, r } = hub();
    renderApp(`/releases/${r.version}`, h);
    expect(await screen.findByRole('heading', { name: 'Release 1.1.0' })).toBeTruthy();
    const containers = screen.getByRole('region', { name: 'Containers' });
    const web = within(containers).getByRole('row', { name: /web/ });
    expect(within(web).getByText(/registry\.local\/web:1\.1/)).toBeTruthy();
    expect(within(web).getByText('5.0 MiB')).toBeTruthy();
    expect(within(screen.getByRole('region', { name: 'Objects' })).getByText('rootfs:web')).toBeTruthy();
    const sigs = screen.getByRole('region', { name: 'Signatures' });
    expect(within(sigs).getByText('0123456789abcdef')).toBeTruthy();
    expect(await within(sigs).findByText('trusted key')).toBeTruthy();
    expect(within(screen.getByRole('region', { name: 'Summary' })).getByText('raspberrypi4-64')).toBeTruthy();
  });

  it('yanks only with a reason, after confirmation', async () => {
    const { hub: h, r } = hub();
    renderApp(`/releases/${r.version}`, h);
    fireEvent.click(await screen.findByRole('button', { name: 'Yank…' }));
    const dialog = screen.getByRole('alertdialog', { name: 'Yank release 1.1.0?' });
    fireEvent.click(within(dialog).getByRole('button', { name: 'Yank' }));
    expect(h.calls('POST', `/api/v1/releases/${r.version}/yank`)).toHaveLength(0);
    fireEvent.change(within(dialog).getByLabelText('Reason (required)'), { target: { value: 'broken' } });
    fireEvent.click(within(dialog).getByRole('button', { name: 'Yank' }));
    await waitFor(() =>
      expect(h.calls('POST', `/api/v1/releases/${r.version}/yank`)[0]?.body).toEqual({ reason: 'broken' }),
    );
  });

  it('offers a viewer neither yank nor roll-out', async () => {
    const { hub: h, r } = hub();
    renderApp(`/releases/${r.version}`, h, { role: 'viewer' });
    await screen.findByRole('heading', { name: 'Release 1.1.0' });
    expect(screen.queryByRole('button', { name: 'Yank…' })).toBeNull();
    expect(screen.queryByRole('link', { name: 'Roll out…' })).toBeNull();
  });
});

import { act, fireEvent, screen } from '@testing-library/react';
import { describe, expect, it } from 'vitest';
import { FakeHub } from '../test/fake-hub.js';
import { renderApp } from '../test/render.js';

describe('theme toggle', () => {
  it('cycles system → light → dark → system, pinning the choice on <html> and remembering it', async () => {
    const hub = new FakeHub().on('GET /api/v1/fleets', []);
    renderApp('/fleets', hub);
    const toggle = await screen.findByRole('button', { name: /Theme: system/ });
    expect(document.documentElement.dataset.theme).toBeUndefined();
    act(() => fireEvent.click(toggle));
    expect(document.documentElement.dataset.theme).toBe('light');
    expect(localStorage.getItem('fleet.theme')).toBe('light');
    act(() => fireEvent.click(screen.getByRole('button', { name: /Theme: light/ })));
    expect(document.documentElement.dataset.theme).toBe('dark');
    act(() => fireEvent.click(screen.getByRole('button', { name: /Theme: dark/ })));
    expect(document.documentElement.dataset.theme).toBeUndefined();
    expect(localStorage.getItem('fleet.theme')).toBeNull();
  });

  it('starts from the remembered choice', async () => {
    localStorage.setItem('fleet.theme', 'dark');
    renderApp('/fleets', new FakeHub().on('GET /api/v1/fleets', []));
    expect(await screen.findByRole('button', { name: /Theme: dark/ })).toBeTruthy();
    expect(document.documentElement.dataset.theme).toBe('dark');
  });
});

import { render, type RenderResult } from '@testing-library/react';
import { QueryClient } from '@tanstack/react-query';
import { MemoryRouter, useLocation } from 'react-router';
import { AppRoutes } from '../app/app-routes.js';
import { AppProviders } from '../app/providers.js';
import { ApiClient } from '../lib/api-client.js';
import { HubEvents } from '../lib/hub-events.js';
import type { FakeHub } from './fake-hub.js';
import { FakeEventSource } from './fake-hub.js';
import { me } from './builders.js';

export interface AppHarness extends RenderResult {
  hub: FakeHub;
  queryClient: QueryClient;
  events: HubEvents;
  /** The router's current location (path + search), as the address bar would show. */
  location: () => string;
}

/**
 * Renders the whole app at `route` against a FakeHub: a real QueryClient, the real ApiClient
 * and router; only fetch and EventSource are replaced at the boundary.
 */
export function renderApp(
  route: string,
  hub: FakeHub,
  opts: { role?: 'admin' | 'operator' | 'viewer' | null } = {},
): AppHarness {
  const role = opts.role === undefined ? 'operator' : opts.role;
  if (!hub.calls('GET', '/api/v1/auth/me').length) {
    hub.on(
      'GET /api/v1/auth/me',
      role ? me(role) : { status: 401, body: { statusCode: 401, message: 'authentication required' } },
    );
  }
  const api = new ApiClient({ fetch: hub.fetch });
  FakeEventSource.reset();
  const events = new HubEvents('/api/v1/events', (url) => new FakeEventSource(url) as unknown as EventSource);
  const queryClient = new QueryClient({
    defaultOptions: { queries: { retry: false }, mutations: { retry: false } },
  });
  let current = route;
  function Spy() {
    const l = useLocation();
    current = `${l.pathname}${l.search}`;
    return null;
  }
  const result = render(
    <AppProviders api={api} events={events} queryClient={queryClient}>
      <MemoryRouter initialEntries={[route]}>
        <AppRoutes />
        <Spy />
      </MemoryRouter>
    </AppProviders>,
  );
  return { ...result, hub, queryClient, events, location: () => current };
}

/** The app-wide event stream's fake (opened by the layout after login). */
export function appStream(): FakeEventSource {
  const s = FakeEventSource.latest((x) => !x.url.includes('deviceId='));
  if (!s) throw new Error('the app has not opened its event stream');
  return s;
}

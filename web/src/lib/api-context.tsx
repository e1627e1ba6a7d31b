import { createContext, useContext, type ReactNode } from 'react';
import type { ApiClient } from './api-client.js';
import type { HubEvents } from './hub-events.js';

// The client and event stream are built once in main.tsx (or per test) and passed down: no
// module singletons, so tests get a fresh hub boundary each.
const ApiContext = createContext<ApiClient | null>(null);
const EventsContext = createContext<HubEvents | null>(null);

export function ApiProvider({
  api,
  events,
  children,
}: {
  api: ApiClient;
  events: HubEvents;
  children: ReactNode;
}) {
  return (
    <ApiContext value={api}>
      <EventsContext value={events}>{children}</EventsContext>
    </ApiContext>
  );
}

export function useApi(): ApiClient {
  const api = useContext(ApiContext);
  if (!api) throw new Error('useApi outside <ApiProvider>');
  return api;
}

export function useHubEvents(): HubEvents {
  const events = useContext(EventsContext);
  if (!events) throw new Error('useHubEvents outside <ApiProvider>');
  return events;
}

import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { BrowserRouter } from 'react-router';
import { AppRoutes } from './app/app-routes.js';
import { AppProviders, createQueryClient } from './app/providers.js';
import { ApiClient } from './lib/api-client.js';
import { HubEvents } from './lib/hub-events.js';
import { buildQuery } from './lib/api-client.js';
import { DASHBOARD_EVENT_TYPES } from './lib/hub-events.js';
import './styles.css';

// The object graph of the page, built once here (no module singletons).
const api = new ApiClient();
const events = new HubEvents(
  api.url(`/api/v1/events${buildQuery({ type: DASHBOARD_EVENT_TYPES })}`),
  (url) => new EventSource(url, { withCredentials: true }),
);
const queryClient = createQueryClient();

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <AppProviders api={api} events={events} queryClient={queryClient}>
      <BrowserRouter>
        <AppRoutes />
      </BrowserRouter>
    </AppProviders>
  </StrictMode>,
);

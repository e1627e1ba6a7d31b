import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import type { ReactNode } from 'react';
import { ApiError } from '../lib/api-client.js';
import { ApiProvider } from '../lib/api-context.js';
import type { ApiClient } from '../lib/api-client.js';
import type { HubEvents } from '../lib/hub-events.js';
import { ThemeProvider } from './theme-context.js';

export function createQueryClient(): QueryClient {
  return new QueryClient({
    defaultOptions: {
      queries: {
        // 4xx will not get better by asking again; network blips may.
        retry: (count, error) => !(error instanceof ApiError && error.status < 500) && count < 2,
        refetchOnWindowFocus: true,
      },
    },
  });
}

export function AppProviders({
  api,
  events,
  queryClient,
  children,
}: {
  api: ApiClient;
  events: HubEvents;
  queryClient: QueryClient;
  children: ReactNode;
}) {
  return (
    <QueryClientProvider client={queryClient}>
      <ApiProvider api={api} events={events}>
        <ThemeProvider>{children}</ThemeProvider>
      </ApiProvider>
    </QueryClientProvider>
  );
}

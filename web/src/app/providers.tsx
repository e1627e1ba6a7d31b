import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import type { ReactNode } from 'react';
import { ApiError, ResponseShapeError } from '../lib/api-client.js';
import { ApiProvider } from '../lib/api-context.js';
import type { ApiClient } from '../lib/api-client.js';
import type { HubEvents } from '../lib/hub-events.js';
import { ThemeProvider } from './theme-context.js';

export function createQueryClient(): QueryClient {
  return new QueryClient({
    defaultOptions: {
      queries: {
        // Only a network blip or a 5xx may get better by asking again; a 4xx or an answer of
        // the wrong shape will not.
        retry: (count, error) =>
          count < 2 &&
          (error instanceof ApiError ? error.status >= 500 : !(error instanceof ResponseShapeError)),
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

export const rolloutKeys = {
  all: ['rollouts'] as const,
  list: (state: string | undefined) => ['rollouts', 'list', state ?? null] as const,
  detail: (id: string) => ['rollouts', 'detail', id] as const,
  devices: (id: string, state: string | undefined) => ['rollouts', 'devices', id, state ?? null] as const,
};

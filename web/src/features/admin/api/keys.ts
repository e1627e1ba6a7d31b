export const adminKeys = {
  users: () => ['admin', 'users'] as const,
  tokens: (all: boolean) => ['admin', 'tokens', all] as const,
};

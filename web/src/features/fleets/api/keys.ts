export const fleetKeys = {
  all: ['fleets'] as const,
  list: () => ['fleets', 'list'] as const,
  claimTokens: (fleetId: string) => ['fleets', 'claim-tokens', fleetId] as const,
};

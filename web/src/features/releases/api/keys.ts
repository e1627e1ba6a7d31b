export const releaseKeys = {
  all: ['releases'] as const,
  list: (includeYanked: boolean) => ['releases', 'list', includeYanked] as const,
  detail: (idOrVersion: string) => ['releases', 'detail', idOrVersion] as const,
  signingKeys: () => ['releases', 'signing-keys'] as const,
};

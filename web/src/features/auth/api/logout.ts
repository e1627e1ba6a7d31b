import { useMutation, useQueryClient } from '@tanstack/react-query';
import type { ApiClient } from '../../../lib/api-client.js';
import { useApi } from '../../../lib/api-context.js';
import { NoContent } from '../../../lib/schemas.js';
import { meKey } from './get-me.js';

export async function logout(api: ApiClient): Promise<void> {
  await api.request('POST', '/api/v1/auth/logout', NoContent, { skipUnauthorizedRedirect: true });
}

export function useLogout() {
  const api = useApi();
  const qc = useQueryClient();
  return useMutation({
    mutationFn: () => logout(api),
    onSettled: () => {
      qc.clear();
      qc.setQueryData(meKey, null);
    },
  });
}

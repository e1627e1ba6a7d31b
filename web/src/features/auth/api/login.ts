import { LoginResponse, type LoginRequest, type UserPrincipal } from '@fleet/protocol/browser';
import { useMutation, useQueryClient } from '@tanstack/react-query';
import { z } from 'zod';
import type { ApiClient } from '../../../lib/api-client.js';
import { useApi } from '../../../lib/api-context.js';
import { meKey } from './get-me.js';

export const LoginInput = z.object({
  email: z.string().trim().email('enter an e-mail address'),
  password: z.string().min(1, 'enter your password'),
}) satisfies z.ZodType<LoginRequest>;
export type LoginInput = z.infer<typeof LoginInput>;

/** The hub answers with the user and sets its httpOnly session cookie. */
export async function login(api: ApiClient, input: LoginInput): Promise<UserPrincipal> {
  const r = await api.request('POST', '/api/v1/auth/login', LoginResponse, {
    body: input,
    skipUnauthorizedRedirect: true,
  });
  return { kind: 'user', userId: r.user.id, email: r.user.email, role: r.user.role, scopes: [] };
}

export function useLogin() {
  const api = useApi();
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (input: LoginInput) => login(api, input),
    onSuccess: (me) => {
      // Data of a previous user must not leak into this session.
      qc.removeQueries({ predicate: (q) => q.queryKey[0] !== 'auth' });
      qc.setQueryData(meKey, me);
    },
  });
}

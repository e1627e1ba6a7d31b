import { Role, User, type CreateUserRequest, type UpdateUserRequest } from '@fleet/protocol/browser';
import { queryOptions, useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { z } from 'zod';
import type { ApiClient } from '../../../lib/api-client.js';
import { useApi } from '../../../lib/api-context.js';
import { adminKeys } from './keys.js';

export const CreateUserInput = z.object({
  email: z.string().trim().email('enter an e-mail address'),
  password: z.string().min(10, 'at least 10 characters'),
  role: Role,
}) satisfies z.ZodType<CreateUserRequest>;
export type CreateUserInput = z.infer<typeof CreateUserInput>;

export function listUsers(api: ApiClient, signal?: AbortSignal): Promise<User[]> {
  return api.get('/api/v1/users', z.array(User), signal);
}

export function usersQueryOptions(api: ApiClient) {
  return queryOptions({ queryKey: adminKeys.users(), queryFn: ({ signal }) => listUsers(api, signal) });
}

export function useUsers() {
  const api = useApi();
  return useQuery(usersQueryOptions(api));
}

export function createUser(api: ApiClient, input: CreateUserInput): Promise<User> {
  return api.post('/api/v1/users', User, input);
}

export function useCreateUser() {
  const api = useApi();
  const qc = useQueryClient();
  return useMutation({
    mutationFn: (input: CreateUserInput) => createUser(api, input),
    onSuccess: () => void qc.invalidateQueries({ queryKey: adminKeys.users() }),
  });
}

export function updateUser(api: ApiClient, id: string, input: UpdateUserRequest): Promise<User> {
  return api.patch(`/api/v1/users/${encodeURIComponent(id)}`, User, input);
}

export function useUpdateUser() {
  const api = useApi();
  const qc = useQueryClient();
  return useMutation({
    mutationFn: ({ id, input }: { id: string; input: UpdateUserRequest }) => updateUser(api, id, input),
    onSuccess: () => void qc.invalidateQueries({ queryKey: adminKeys.users() }),
  });
}

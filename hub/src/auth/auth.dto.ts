import { z } from 'zod';
import { Role, Scope } from './principal.js';

export const LoginRequest = z.strictObject({
  email: z.string().email().max(254),
  password: z.string().min(1).max(1024),
});
export type LoginRequest = z.infer<typeof LoginRequest>;

export const CreateUserRequest = z.strictObject({
  email: z.string().email().max(254),
  password: z.string().min(10).max(1024),
  role: Role,
});
export type CreateUserRequest = z.infer<typeof CreateUserRequest>;

export const UpdateUserRequest = z
  .strictObject({
    role: Role.optional(),
    disabled: z.boolean().optional(),
    password: z.string().min(10).max(1024).optional(),
  })
  .refine((v) => Object.keys(v).length > 0, { message: 'give at least one of role, disabled, password' });
export type UpdateUserRequest = z.infer<typeof UpdateUserRequest>;

export const CreateApiTokenRequest = z.strictObject({
  name: z.string().min(1).max(100),
  role: Role.optional(),
  scopes: z.array(Scope).max(20).default([]),
  /** Absent: never expires (discouraged for CI). */
  expiresInDays: z.number().int().min(1).max(3650).optional(),
});
export type CreateApiTokenRequest = z.infer<typeof CreateApiTokenRequest>;

export const ListTokensQuery = z.strictObject({ all: z.enum(['true', 'false']).optional() });
export type ListTokensQuery = z.infer<typeof ListTokensQuery>;

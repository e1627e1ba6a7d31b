import { z } from 'zod';
import { ApiDate, Role, Scope } from './common.js';

/** `GET /auth/me`: a person, through a dashboard session or one of their API tokens. */
export const UserPrincipal = z.object({
  kind: z.literal('user'),
  userId: z.string(),
  email: z.string(),
  role: Role,
  /** Set when authenticated by an API token rather than a session. */
  tokenId: z.string().optional(),
  /** Empty: no limit beyond the role. */
  scopes: z.array(Scope),
});
export type UserPrincipal = z.infer<typeof UserPrincipal>;

/** `/users`. */
export const User = z.object({
  id: z.string(),
  email: z.string(),
  role: Role,
  disabled: z.boolean(),
  createdAt: ApiDate,
  lastLoginAt: ApiDate.nullable(),
});
export type User = z.infer<typeof User>;

/** `POST /auth/login` (the session itself is an httpOnly cookie, never in the body). */
export const LoginResponse = z.object({ user: User, expiresAt: z.string() });
export type LoginResponse = z.infer<typeof LoginResponse>;

/** `/tokens`: an API token without its secret. */
export const ApiTokenInfo = z.object({
  id: z.string(),
  userId: z.string(),
  name: z.string(),
  role: Role,
  scopes: z.array(Scope),
  createdAt: ApiDate,
  expiresAt: ApiDate.nullable(),
  revokedAt: ApiDate.nullable(),
  lastUsedAt: ApiDate.nullable(),
});
export type ApiTokenInfo = z.infer<typeof ApiTokenInfo>;

/** `POST /tokens`: the secret is in this answer only (the hub stores it hashed). */
export const NewApiToken = ApiTokenInfo.extend({ token: z.string() });
export type NewApiToken = z.infer<typeof NewApiToken>;

// ---- request bodies (shapes only: the hub validates values and answers 400 with issues) ----

export const LoginRequest = z.object({ email: z.string(), password: z.string() });
export type LoginRequest = z.input<typeof LoginRequest>;

export const CreateUserRequest = z.object({ email: z.string(), password: z.string(), role: Role });
export type CreateUserRequest = z.input<typeof CreateUserRequest>;

export const UpdateUserRequest = z.object({
  role: Role.optional(),
  disabled: z.boolean().optional(),
  password: z.string().optional(),
});
export type UpdateUserRequest = z.input<typeof UpdateUserRequest>;

export const CreateApiTokenRequest = z.object({
  name: z.string(),
  role: Role.optional(),
  scopes: z.array(Scope).optional(),
  /** Absent: never expires. */
  expiresInDays: z.number().int().optional(),
});
export type CreateApiTokenRequest = z.input<typeof CreateApiTokenRequest>;

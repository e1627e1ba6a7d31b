import { z } from 'zod';
import { Role, Scope } from './principal.js';

export const User = z.object({
  id: z.string(),
  email: z.string(),
  role: Role,
  disabled: z.boolean(),
  createdAt: z.date(),
  lastLoginAt: z.date().nullable(),
});
export type User = z.infer<typeof User>;

export interface UserWithHash extends User {
  passwordHash: string;
}

export const ApiTokenInfo = z.object({
  id: z.string(),
  userId: z.string(),
  name: z.string(),
  role: Role,
  scopes: z.array(Scope),
  createdAt: z.date(),
  expiresAt: z.date().nullable(),
  revokedAt: z.date().nullable(),
  lastUsedAt: z.date().nullable(),
});
export type ApiTokenInfo = z.infer<typeof ApiTokenInfo>;

export interface SessionInfo {
  userId: string;
  expiresAt: Date;
}

export interface DeviceCredentials {
  deviceId: string;
  fleetId: string;
  credentialsHash: string;
  decommissioned: boolean;
}

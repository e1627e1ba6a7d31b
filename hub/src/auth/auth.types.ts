import {
  ApiTokenInfo as ApiApiTokenInfo,
  LoginResponse as ApiLoginResponse,
  NewApiToken as ApiNewApiToken,
  User as ApiUser,
} from '@fleet/protocol';
import { z } from 'zod';

// protocol's user and token answers (decisions 0004, 0091) with the hub's Dates where the wire
// has ISO text: the hub builds these from Prisma rows and documents them with @Returns.

export const User = ApiUser.extend({ createdAt: z.date(), lastLoginAt: z.date().nullable() });
export type User = z.infer<typeof User>;

/** `POST /auth/login`: `expiresAt` is already ISO text (the cookie's expiry). */
export const LoginResponse = ApiLoginResponse.extend({ user: User });
export type LoginResponse = z.infer<typeof LoginResponse>;

export interface UserWithHash extends User {
  passwordHash: string;
}

const TokenDates = {
  createdAt: z.date(),
  expiresAt: z.date().nullable(),
  revokedAt: z.date().nullable(),
  lastUsedAt: z.date().nullable(),
};

export const ApiTokenInfo = ApiApiTokenInfo.extend(TokenDates);
export type ApiTokenInfo = z.infer<typeof ApiTokenInfo>;

/** `POST /tokens`: the secret is in this answer only. */
export const NewApiToken = ApiNewApiToken.extend(TokenDates);
export type NewApiToken = z.infer<typeof NewApiToken>;

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

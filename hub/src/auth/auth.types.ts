import type { Role, Scope } from './principal.js';

export interface User {
  id: string;
  email: string;
  role: Role;
  disabled: boolean;
  createdAt: Date;
  lastLoginAt: Date | null;
}

export interface UserWithHash extends User {
  passwordHash: string;
}

export interface ApiTokenInfo {
  id: string;
  userId: string;
  name: string;
  role: Role;
  scopes: Scope[];
  createdAt: Date;
  expiresAt: Date | null;
  revokedAt: Date | null;
  lastUsedAt: Date | null;
}

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

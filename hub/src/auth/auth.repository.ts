import { Injectable, Inject } from '@nestjs/common';
import { PrismaService } from '../database/prisma.service.js';
import type { Role, Scope } from './principal.js';
import type { ApiTokenInfo, DeviceCredentials, SessionInfo, User, UserWithHash } from './auth.types.js';

type UserRow = {
  id: string;
  email: string;
  role: Role;
  disabled: boolean;
  createdAt: Date;
  lastLoginAt: Date | null;
  passwordHash: string;
};
type TokenRow = Omit<ApiTokenInfo, 'scopes'> & { scopes: string[]; tokenHash: string };

function toUser(r: UserRow): User {
  return {
    id: r.id,
    email: r.email,
    role: r.role,
    disabled: r.disabled,
    createdAt: r.createdAt,
    lastLoginAt: r.lastLoginAt,
  };
}

function toToken(r: TokenRow): ApiTokenInfo {
  return {
    id: r.id,
    userId: r.userId,
    name: r.name,
    role: r.role,
    scopes: r.scopes as Scope[],
    createdAt: r.createdAt,
    expiresAt: r.expiresAt,
    revokedAt: r.revokedAt,
    lastUsedAt: r.lastUsedAt,
  };
}

@Injectable()
export class AuthRepository {
  constructor(@Inject(PrismaService) private readonly db: PrismaService) {}

  async countUsers(): Promise<number> {
    return this.db.user.count();
  }

  async createUser(input: {
    email: string;
    passwordHash: string;
    role: Role;
  }): Promise<User | 'email-taken'> {
    const existing = await this.db.user.findUnique({ where: { email: input.email } });
    if (existing) return 'email-taken';
    return toUser(await this.db.user.create({ data: input }));
  }

  async findUserByEmail(email: string): Promise<UserWithHash | null> {
    const r = await this.db.user.findUnique({ where: { email } });
    return r ? { ...toUser(r), passwordHash: r.passwordHash } : null;
  }

  async findUser(id: string): Promise<User | null> {
    const r = await this.db.user.findUnique({ where: { id } });
    return r ? toUser(r) : null;
  }

  async listUsers(): Promise<User[]> {
    return (await this.db.user.findMany({ orderBy: { email: 'asc' } })).map(toUser);
  }

  async updateUser(
    id: string,
    patch: { role?: Role; disabled?: boolean; passwordHash?: string },
  ): Promise<User | null> {
    const found = await this.db.user.findUnique({ where: { id } });
    if (!found) return null;
    return toUser(await this.db.user.update({ where: { id }, data: patch }));
  }

  async countActiveAdmins(): Promise<number> {
    return this.db.user.count({ where: { role: 'admin', disabled: false } });
  }

  async touchLogin(id: string, at: Date): Promise<void> {
    await this.db.user.update({ where: { id }, data: { lastLoginAt: at } });
  }

  async createSession(tokenHash: string, userId: string, expiresAt: Date): Promise<void> {
    await this.db.session.create({ data: { tokenHash, userId, expiresAt } });
  }

  async findSession(tokenHash: string): Promise<SessionInfo | null> {
    const r = await this.db.session.findUnique({ where: { tokenHash } });
    return r ? { userId: r.userId, expiresAt: r.expiresAt } : null;
  }

  async deleteSession(tokenHash: string): Promise<void> {
    await this.db.session.deleteMany({ where: { tokenHash } });
  }

  async deleteSessionsOf(userId: string): Promise<void> {
    await this.db.session.deleteMany({ where: { userId } });
  }

  async deleteExpiredSessions(now: Date): Promise<number> {
    return (await this.db.session.deleteMany({ where: { expiresAt: { lt: now } } })).count;
  }

  async createToken(input: {
    userId: string;
    name: string;
    tokenHash: string;
    role: Role;
    scopes: Scope[];
    expiresAt: Date | null;
  }): Promise<ApiTokenInfo> {
    return toToken(await this.db.apiToken.create({ data: input }));
  }

  async findTokenByHash(tokenHash: string): Promise<ApiTokenInfo | null> {
    const r = await this.db.apiToken.findUnique({ where: { tokenHash } });
    return r ? toToken(r) : null;
  }

  async findToken(id: string): Promise<ApiTokenInfo | null> {
    const r = await this.db.apiToken.findUnique({ where: { id } });
    return r ? toToken(r) : null;
  }

  async listTokens(userId: string | null): Promise<ApiTokenInfo[]> {
    const rows = await this.db.apiToken.findMany({
      where: userId ? { userId } : {},
      orderBy: { createdAt: 'desc' },
    });
    return rows.map(toToken);
  }

  async revokeToken(id: string, at: Date): Promise<void> {
    await this.db.apiToken.updateMany({ where: { id, revokedAt: null }, data: { revokedAt: at } });
  }

  async touchToken(id: string, at: Date): Promise<void> {
    await this.db.apiToken.update({ where: { id }, data: { lastUsedAt: at } });
  }

  async findDeviceCredentials(deviceId: string): Promise<DeviceCredentials | null> {
    const r = await this.db.device.findUnique({
      where: { id: deviceId },
      select: { id: true, fleetId: true, credentialsHash: true, decommissionedAt: true },
    });
    return r
      ? {
          deviceId: r.id,
          fleetId: r.fleetId,
          credentialsHash: r.credentialsHash,
          decommissioned: r.decommissionedAt !== null,
        }
      : null;
  }
}

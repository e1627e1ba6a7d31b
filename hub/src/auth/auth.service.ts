import {
  ConflictException,
  ForbiddenException,
  Inject,
  Injectable,
  NotFoundException,
  UnauthorizedException,
} from '@nestjs/common';
import { hash, verify } from '@node-rs/argon2';
import { AuditService } from '../audit/audit.service.js';
import { sha256Hex, newSecret } from '../common/sha256.js';
import { HUB_CONFIG, type HubConfig } from '../config/hub-config.js';
import { AuthRepository } from './auth.repository.js';
import type { ApiTokenInfo, User } from './auth.types.js';
import {
  roleAtLeast,
  SYSTEM_ACTOR,
  type Actor,
  type DevicePrincipal,
  type Role,
  type Scope,
  type UserPrincipal,
} from './principal.js';

export const SESSION_COOKIE = 'fleet_session';
/** API tokens are recognisable in logs and secret scanners by this prefix. */
export const API_TOKEN_PREFIX = 'fleet_';

/** Why an authentication failed; each gets its own 401 message. */
export type AuthFailure = 'invalid' | 'expired' | 'revoked' | 'disabled';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

@Injectable()
export class AuthService {
  constructor(
    @Inject(AuthRepository) private readonly repo: AuthRepository,
    @Inject(AuditService) private readonly audit: AuditService,
    @Inject(HUB_CONFIG) private readonly config: HubConfig,
  ) {}

  // ---- sessions (dashboard) ----

  async login(
    email: string,
    password: string,
    now = new Date(),
  ): Promise<{ sessionToken: string; expiresAt: Date; user: User }> {
    const user = await this.repo.findUserByEmail(email.toLowerCase());
    // Verify against a real hash even for unknown users, so timing does not reveal who exists.
    const ok = await verify(user?.passwordHash ?? DUMMY_HASH, password).catch(() => false);
    if (!user || !ok) throw new UnauthorizedException('wrong email or password');
    if (user.disabled) throw new UnauthorizedException('this user is disabled');
    const sessionToken = newSecret();
    const expiresAt = new Date(now.getTime() + this.config.sessionTtlHours * 3_600_000);
    await this.repo.createSession(sha256Hex(sessionToken), user.id, expiresAt);
    await this.repo.touchLogin(user.id, now);
    await this.audit.record({ id: `user:${user.id}`, email: user.email }, 'auth.login', {
      type: 'user',
      id: user.id,
    });
    const { passwordHash: _h, ...plain } = user;
    return { sessionToken, expiresAt, user: plain };
  }

  async logout(sessionToken: string): Promise<void> {
    await this.repo.deleteSession(sha256Hex(sessionToken));
  }

  async resolveSession(sessionToken: string, now = new Date()): Promise<UserPrincipal | AuthFailure> {
    const s = await this.repo.findSession(sha256Hex(sessionToken));
    if (!s) return 'invalid';
    if (s.expiresAt <= now) return 'expired';
    const user = await this.repo.findUser(s.userId);
    if (!user) return 'invalid';
    if (user.disabled) return 'disabled';
    return { kind: 'user', userId: user.id, email: user.email, role: user.role, scopes: [] };
  }

  // ---- API tokens (hubctl, CI) ----

  async resolveApiToken(token: string, now = new Date()): Promise<UserPrincipal | AuthFailure> {
    if (!token.startsWith(API_TOKEN_PREFIX)) return 'invalid';
    const t = await this.repo.findTokenByHash(sha256Hex(token));
    if (!t) return 'invalid';
    if (t.revokedAt) return 'revoked';
    if (t.expiresAt && t.expiresAt <= now) return 'expired';
    const user = await this.repo.findUser(t.userId);
    if (!user) return 'invalid';
    if (user.disabled) return 'disabled';
    // Recorded at most once a minute: a busy CI token must not cost a write per request.
    if (!t.lastUsedAt || now.getTime() - t.lastUsedAt.getTime() > 60_000)
      await this.repo.touchToken(t.id, now);
    // A token never acts above its owner's current role, even if the owner was demoted.
    const role = roleAtLeast(user.role, t.role) ? t.role : user.role;
    return { kind: 'user', userId: user.id, email: user.email, role, tokenId: t.id, scopes: t.scopes };
  }

  async createApiToken(
    who: UserPrincipal,
    input: { name: string; role?: Role | undefined; scopes: Scope[]; expiresInDays?: number | undefined },
    actor: Actor,
    now = new Date(),
  ): Promise<{ token: string; info: ApiTokenInfo }> {
    const role = input.role ?? who.role;
    if (!roleAtLeast(who.role, role))
      throw new ForbiddenException(`a ${who.role} cannot create a token with role ${role}`);
    // A scoped token may only mint tokens inside its own scopes.
    if (
      who.scopes.length > 0 &&
      (input.scopes.length === 0 || input.scopes.some((s) => !who.scopes.includes(s)))
    ) {
      throw new ForbiddenException('a scoped token can only create tokens within its own scopes');
    }
    const token = API_TOKEN_PREFIX + newSecret();
    const expiresAt = input.expiresInDays ? new Date(now.getTime() + input.expiresInDays * 86_400_000) : null;
    const info = await this.repo.createToken({
      userId: who.userId,
      name: input.name,
      tokenHash: sha256Hex(token),
      role,
      scopes: input.scopes,
      expiresAt,
    });
    await this.audit.record(
      actor,
      'token.create',
      { type: 'api-token', id: info.id },
      { name: input.name, role, scopes: input.scopes, expiresAt },
    );
    return { token, info };
  }

  async listApiTokens(who: UserPrincipal, all: boolean): Promise<ApiTokenInfo[]> {
    if (all && who.role !== 'admin') throw new ForbiddenException('only admins can list every token');
    return this.repo.listTokens(all ? null : who.userId);
  }

  async revokeApiToken(who: UserPrincipal, id: string, actor: Actor): Promise<void> {
    const t = UUID.test(id) ? await this.repo.findToken(id) : null;
    if (!t || (t.userId !== who.userId && who.role !== 'admin'))
      throw new NotFoundException(`no API token ${id}`);
    await this.repo.revokeToken(id, new Date());
    await this.audit.record(actor, 'token.revoke', { type: 'api-token', id });
  }

  // ---- users ----

  async createUser(input: { email: string; password: string; role: Role }, actor: Actor): Promise<User> {
    const passwordHash = await hash(input.password);
    const created = await this.repo.createUser({
      email: input.email.toLowerCase(),
      passwordHash,
      role: input.role,
    });
    if (created === 'email-taken')
      throw new ConflictException(`a user with email ${input.email} already exists`);
    await this.audit.record(
      actor,
      'user.create',
      { type: 'user', id: created.id },
      { email: created.email, role: created.role },
    );
    return created;
  }

  listUsers(): Promise<User[]> {
    return this.repo.listUsers();
  }

  async updateUser(
    id: string,
    patch: { role?: Role | undefined; disabled?: boolean | undefined; password?: string | undefined },
    actor: Actor,
  ): Promise<User> {
    const current = UUID.test(id) ? await this.repo.findUser(id) : null;
    if (!current) throw new NotFoundException(`no user ${id}`);
    const demotesAdmin =
      current.role === 'admin' &&
      !current.disabled &&
      ((patch.role && patch.role !== 'admin') || patch.disabled === true);
    if (demotesAdmin && (await this.repo.countActiveAdmins()) <= 1)
      throw new ConflictException('the last active admin cannot be demoted or disabled');
    const data: { role?: Role; disabled?: boolean; passwordHash?: string } = {};
    if (patch.role) data.role = patch.role;
    if (patch.disabled !== undefined) data.disabled = patch.disabled;
    if (patch.password) data.passwordHash = await hash(patch.password);
    const updated = await this.repo.updateUser(id, data);
    if (!updated) throw new NotFoundException(`no user ${id}`);
    // A new password or a disabled account ends every session at once.
    if (patch.password || patch.disabled) await this.repo.deleteSessionsOf(id);
    await this.audit.record(
      actor,
      'user.update',
      { type: 'user', id },
      { role: patch.role, disabled: patch.disabled, passwordChanged: !!patch.password },
    );
    return updated;
  }

  async getUser(id: string): Promise<User> {
    const u = UUID.test(id) ? await this.repo.findUser(id) : null;
    if (!u) throw new NotFoundException(`no user ${id}`);
    return u;
  }

  // ---- devices (HTTP Basic with their broker credentials) ----

  async resolveDevice(username: string, password: string): Promise<DevicePrincipal | AuthFailure> {
    const m = /^device:(.+)$/.exec(username);
    if (!m || !m[1] || !UUID.test(m[1])) return 'invalid';
    const c = await this.repo.findDeviceCredentials(m[1]);
    if (!c) return 'invalid';
    if (c.decommissioned) return 'revoked';
    if (sha256Hex(password) !== c.credentialsHash) return 'invalid';
    return { kind: 'device', deviceId: c.deviceId, fleetId: c.fleetId };
  }

  // ---- bootstrap ----

  /**
   * Creates the first admin when there is no user: from HUB_ADMIN_EMAIL/HUB_ADMIN_PASSWORD, or
   * admin@fleet.local with a random password printed once through `log`.
   */
  async bootstrapAdmin(
    log: (line: string) => void,
  ): Promise<{ email: string; generatedPassword: string | null } | null> {
    if ((await this.repo.countUsers()) > 0) return null;
    const email = this.config.adminEmail ?? 'admin@fleet.local';
    const generated = this.config.adminPassword ? null : newSecret(12);
    const password = this.config.adminPassword ?? generated ?? '';
    const created = await this.repo.createUser({
      email: email.toLowerCase(),
      passwordHash: await hash(password),
      role: 'admin',
    });
    if (created === 'email-taken') return null; // another replica won the race
    await this.audit.record(
      SYSTEM_ACTOR,
      'user.bootstrap-admin',
      { type: 'user', id: created.id },
      { email: created.email },
    );
    if (generated)
      log(
        `first admin created: ${created.email} with one-time password ${generated} (change it after logging in)`,
      );
    else log(`first admin created: ${created.email} (password from HUB_ADMIN_PASSWORD)`);
    return { email: created.email, generatedPassword: generated };
  }

  async purgeExpiredSessions(now = new Date()): Promise<number> {
    return this.repo.deleteExpiredSessions(now);
  }
}

// An argon2id hash of a random string: verifying against it costs what a real check costs.
const DUMMY_HASH =
  '$argon2id$v=19$m=19456,t=2,p=1$P4MzFWel1orpMmTkW3T0jg$9/pxtN2xCfIYG0M5+cD0SmuHDXZ1uvaU++bPLXXfbwA';

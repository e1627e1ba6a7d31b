import {
  ForbiddenException,
  Injectable,
  UnauthorizedException,
  type CanActivate,
  type ExecutionContext,
  Inject,
} from '@nestjs/common';
import { Reflector } from '@nestjs/core';
import type { FastifyRequest } from 'fastify';
import { AuthService, SESSION_COOKIE, type AuthFailure } from './auth.service.js';
import {
  META_ALLOW_DEVICE,
  META_MIN_ROLE,
  META_PUBLIC,
  META_SCOPE,
  roleAtLeast,
  type Principal,
  type RequestWithPrincipal,
  type Role,
  type Scope,
} from './principal.js';

export function readCookie(header: string | undefined, name: string): string | undefined {
  if (!header) return undefined;
  for (const part of header.split(';')) {
    const i = part.indexOf('=');
    if (i > 0 && part.slice(0, i).trim() === name) return decodeURIComponent(part.slice(i + 1).trim());
  }
  return undefined;
}

const MESSAGES: Record<AuthFailure, string> = {
  invalid: 'invalid credentials',
  expired: 'credentials expired: log in again or create a new API token',
  revoked: 'credentials revoked',
  disabled: 'this user is disabled',
};

/**
 * The one global guard. Authenticates by (in order) `Authorization: Bearer <api token>`,
 * `Authorization: Basic device:<id>:<password>` (routes marked @AllowDevice only), or the
 * dashboard's httpOnly session cookie; then enforces the route's least role and, for API
 * tokens, the controller's scope.
 */
@Injectable()
export class AuthGuard implements CanActivate {
  constructor(
    @Inject(Reflector) private readonly reflector: Reflector,
    @Inject(AuthService) private readonly auth: AuthService,
  ) {}

  async canActivate(ctx: ExecutionContext): Promise<boolean> {
    const targets = [ctx.getHandler(), ctx.getClass()];
    if (this.reflector.getAllAndOverride<boolean>(META_PUBLIC, targets)) return true;
    const req = ctx.switchToHttp().getRequest<FastifyRequest & RequestWithPrincipal>();
    const allowDevice = this.reflector.getAllAndOverride<boolean>(META_ALLOW_DEVICE, targets) ?? false;
    const principal = await this.authenticate(req, allowDevice);
    req.principal = principal;
    if (principal.kind === 'device') return true;
    const minRole = this.reflector.getAllAndOverride<Role>(META_MIN_ROLE, targets) ?? 'viewer';
    if (!roleAtLeast(principal.role, minRole))
      throw new ForbiddenException(`this needs role ${minRole}; you are ${principal.role}`);
    const scope = this.reflector.getAllAndOverride<Scope>(META_SCOPE, targets);
    if (principal.scopes.length > 0 && (!scope || !principal.scopes.includes(scope))) {
      throw new ForbiddenException(
        `this API token is limited to scopes ${principal.scopes.join(', ')}${scope ? `, not ${scope}` : ''}`,
      );
    }
    return true;
  }

  private async authenticate(req: FastifyRequest, allowDevice: boolean): Promise<Principal> {
    const header = req.headers.authorization;
    if (header) {
      const [scheme, value = ''] = header.split(' ', 2);
      if (scheme?.toLowerCase() === 'bearer') return this.ok(await this.auth.resolveApiToken(value.trim()));
      if (scheme?.toLowerCase() === 'basic') {
        if (!allowDevice) throw new UnauthorizedException('devices may not call this endpoint');
        const decoded = Buffer.from(value, 'base64').toString('utf8');
        const i = decoded.lastIndexOf(':');
        if (i <= 0) throw new UnauthorizedException(MESSAGES.invalid);
        return this.ok(await this.auth.resolveDevice(decoded.slice(0, i), decoded.slice(i + 1)));
      }
      throw new UnauthorizedException(`unsupported authorization scheme ${scheme ?? ''}`);
    }
    const cookie = readCookie(req.headers.cookie, SESSION_COOKIE);
    if (cookie) return this.ok(await this.auth.resolveSession(cookie));
    throw new UnauthorizedException(
      'authentication required: log in, or send an API token as "Authorization: Bearer <token>"',
    );
  }

  private ok<P extends Principal>(r: P | AuthFailure): P {
    if (typeof r === 'string') throw new UnauthorizedException(MESSAGES[r]);
    return r;
  }
}

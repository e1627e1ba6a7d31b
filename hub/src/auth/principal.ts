import { createParamDecorator, type ExecutionContext, SetMetadata } from '@nestjs/common';
import type { Role, Scope, UserPrincipal } from '@fleet/protocol';

// Roles, scopes and the user principal (`GET /auth/me`) are protocol's api shapes (decision 0004).
export { Role, roleAtLeast, Scope, UserPrincipal } from '@fleet/protocol';

/** A device, authenticated with its broker username and password (HTTP Basic). */
export interface DevicePrincipal {
  kind: 'device';
  deviceId: string;
  fleetId: string;
}

export type Principal = UserPrincipal | DevicePrincipal;

/** Who did something, as the audit log records it. */
export interface Actor {
  /** `user:<id>`, `token:<id>`, `device:<id>` or `system`. */
  id: string;
  email: string | null;
}

export function actorOf(p: Principal): Actor {
  if (p.kind === 'device') return { id: `device:${p.deviceId}`, email: null };
  return { id: p.tokenId ? `token:${p.tokenId}` : `user:${p.userId}`, email: p.email };
}

export const SYSTEM_ACTOR: Actor = { id: 'system', email: null };

export const META_PUBLIC = 'fleet:public';
export const META_MIN_ROLE = 'fleet:min-role';
export const META_SCOPE = 'fleet:scope';
export const META_ALLOW_DEVICE = 'fleet:allow-device';

/** No authentication at all (health, metrics, login, provisioning with its claim token). */
export const Public = () => SetMetadata(META_PUBLIC, true);
/** Least role needed; routes without it need `viewer`. */
export const MinRole = (role: Role) => SetMetadata(META_MIN_ROLE, role);
/** The area a controller belongs to, checked against an API token's scopes. */
export const ApiScope = (scope: Scope) => SetMetadata(META_SCOPE, scope);
/** Devices (HTTP Basic) may call this route too. */
export const AllowDevice = () => SetMetadata(META_ALLOW_DEVICE, true);

export interface RequestWithPrincipal {
  principal?: Principal;
}

export const CurrentPrincipal = createParamDecorator((_data: unknown, ctx: ExecutionContext): Principal => {
  const req = ctx.switchToHttp().getRequest<RequestWithPrincipal>();
  if (!req.principal) throw new Error('route has no principal: it is @Public() but asks for one');
  return req.principal;
});

/** The acting user (routes that devices cannot call). */
export const CurrentUser = createParamDecorator((_data: unknown, ctx: ExecutionContext): UserPrincipal => {
  const req = ctx.switchToHttp().getRequest<RequestWithPrincipal>();
  if (!req.principal || req.principal.kind !== 'user') throw new Error('route needs a user principal');
  return req.principal;
});

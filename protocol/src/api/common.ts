import { z } from 'zod';
import { parseWith, type Result } from '../result.js';

// Shapes shared by the hub's REST answers (`/api/v1`). The hub is their authority: its OpenAPI
// document (hub/openapi.json) is generated from its own zod schemas, and api/openapi.test.ts
// fails when a schema here stops matching it. Objects here are not strict on purpose: a client
// keeps working against a newer hub that added a field (unknown members are dropped).

/** A date as it travels: ISO 8601 text (the hub's `Date`s after JSON serialisation). */
export const ApiDate = z.string();

/** A keyset page: `nextCursor` is null on the last page, else the `cursor` of the next request. */
export const Page = <T extends z.ZodType>(item: T) =>
  z.object({ items: z.array(item), nextCursor: z.string().nullable() });
export interface Page<T> {
  items: T[];
  nextCursor: string | null;
}

/** Body of every 4xx/5xx answer; `issues` name each bad field by JSON path (`$.tags[1]`). */
export const ApiErrorBody = z.object({
  statusCode: z.number().int(),
  message: z.union([z.string(), z.array(z.string())]),
  error: z.string().optional(),
  issues: z.array(z.object({ path: z.string(), message: z.string() })).optional(),
});
export type ApiErrorBody = z.infer<typeof ApiErrorBody>;

export const ROLES = ['admin', 'operator', 'viewer'] as const;
export const Role = z.enum(ROLES);
export type Role = z.infer<typeof Role>;

const RANK: Record<Role, number> = { viewer: 1, operator: 2, admin: 3 };
/** Whether `role` may do what needs `min` (viewer < operator < admin). */
export function roleAtLeast(role: Role, min: Role): boolean {
  return RANK[role] >= RANK[min];
}

/** Areas an API token can be limited to; no scopes: every area its role allows. */
export const SCOPES = [
  'devices',
  'fleets',
  'releases',
  'objects',
  'keys',
  'telemetry',
  'logs',
  'audit',
  'events',
  'users',
] as const;
export const Scope = z.enum(SCOPES);
export type Scope = z.infer<typeof Scope>;

/**
 * Reads a hub answer (already JSON-decoded) with one of the schemas of this module. Returns a
 * ProtocolError naming each bad member (`GET /api/v1/fleets is invalid: $[0].name: ...`) rather
 * than throwing, like every protocol parser.
 */
export function parseApiResponse<S extends z.ZodType>(
  subject: string,
  schema: S,
  input: unknown,
): Result<z.output<S>> {
  return parseWith(subject, schema, input);
}

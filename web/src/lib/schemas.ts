import { z } from 'zod';

/** Dates travel as ISO strings; the UI keeps them as strings and formats on display. */
export const IsoDate = z.string();

/** The hub's keyset page (`nextCursor` null on the last page). */
export function Page<T extends z.ZodType>(item: T) {
  return z.object({ items: z.array(item), nextCursor: z.string().nullable() });
}
export type Page<T> = { items: T[]; nextCursor: string | null };

/** For 204 answers. */
export const NoContent = z.unknown();

export const Role = z.enum(['admin', 'operator', 'viewer']);
export type Role = z.infer<typeof Role>;

const RANK: Record<Role, number> = { viewer: 1, operator: 2, admin: 3 };
export function roleAtLeast(role: Role, min: Role): boolean {
  return RANK[role] >= RANK[min];
}

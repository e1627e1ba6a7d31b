import { z } from 'zod';

/*
 * Shapes of command-line values shared by several commands. They repeat the hub's own rules
 * so that a typo is refused before any request, with the option named.
 */

export const FleetName = z
  .string()
  .regex(/^[a-z0-9][a-z0-9-]{0,62}$/, { error: 'must be lower-case letters, digits and dashes (max 63)' });

/** `key` or `key=value`, as the hub stores device tags. */
export const Tag = z.string().regex(/^[a-z0-9][a-z0-9_.-]{0,62}(=[^\s,]{0,128})?$/, {
  error:
    'must be "key" or "key=value" (key: lower-case letters, digits, _ . -; value without spaces or commas)',
});

/** Whole numbers given as text on the command line. */
export const IntText = (min: number, max: number) =>
  z
    .string()
    .regex(/^\d+$/, { error: 'must be a whole number' })
    .transform(Number)
    .pipe(
      z
        .number()
        .int()
        .min(min, { error: `must be at least ${min}` })
        .max(max, { error: `must be at most ${max}` }),
    );

export const Uuid = z.uuid({ error: 'must be an id (uuid)' });

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A fleet by name or by id, as the hub's `/fleets/:idOrName` routes take it. */
export const FleetRef = z.string().refine((v) => UUID.test(v) || /^[a-z0-9][a-z0-9-]{0,62}$/.test(v), {
  error: 'must be a fleet name (lower-case letters, digits, dashes) or a fleet id',
});

import { z } from 'zod';

/** A device tag: `key` or `key=value`; keys are lower-case identifiers. */
export const Tag = z
  .string()
  .max(200)
  .regex(/^[a-z0-9][a-z0-9_.-]{0,62}(=[^\s,]{0,128})?$/, {
    error:
      'must be "key" or "key=value" (key: lower-case letters, digits, _ . -; value without spaces or commas)',
  });
export type Tag = z.infer<typeof Tag>;

export const FleetName = z
  .string()
  .regex(/^[a-z0-9][a-z0-9-]{0,62}$/, { error: 'must be lower-case letters, digits and dashes (max 63)' });

export const CreateFleetRequest = z.strictObject({
  name: FleetName,
  description: z.string().max(2000).default(''),
});
export type CreateFleetRequest = z.infer<typeof CreateFleetRequest>;

export const UpdateFleetRequest = z.strictObject({ description: z.string().max(2000) });
export type UpdateFleetRequest = z.infer<typeof UpdateFleetRequest>;

export const CreateClaimTokenRequest = z.strictObject({
  name: z.string().min(1).max(100),
  tags: z.array(Tag).max(50).default([]),
  maxUses: z.number().int().min(1).max(1_000_000).optional(),
  /** Lifetime; absent: never expires (revoke it when done). */
  expiresInHours: z
    .number()
    .int()
    .min(1)
    .max(24 * 365 * 5)
    .optional(),
});
export type CreateClaimTokenRequest = z.infer<typeof CreateClaimTokenRequest>;

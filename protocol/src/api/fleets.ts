import { z } from 'zod';
import { ApiDate } from './common.js';

export const Fleet = z.object({
  id: z.string(),
  name: z.string(),
  description: z.string(),
  createdAt: ApiDate,
  /** Devices not decommissioned. */
  deviceCount: z.number().int(),
});
export type Fleet = z.infer<typeof Fleet>;

/** A claim token as listed: never the secret. */
export const ClaimToken = z.object({
  id: z.string(),
  fleetId: z.string(),
  name: z.string(),
  tags: z.array(z.string()),
  maxUses: z.number().int().nullable(),
  uses: z.number().int(),
  expiresAt: ApiDate.nullable(),
  revokedAt: ApiDate.nullable(),
  createdAt: ApiDate,
  createdBy: z.string(),
});
export type ClaimToken = z.infer<typeof ClaimToken>;

/** `POST /fleets/:fleet/claim-tokens`: the secret is in this answer only. */
export const NewClaimToken = ClaimToken.extend({ token: z.string() });
export type NewClaimToken = z.infer<typeof NewClaimToken>;

export const CreateFleetRequest = z.object({ name: z.string(), description: z.string().optional() });
export type CreateFleetRequest = z.input<typeof CreateFleetRequest>;

export const UpdateFleetRequest = z.object({ description: z.string() });
export type UpdateFleetRequest = z.input<typeof UpdateFleetRequest>;

export const CreateClaimTokenRequest = z.object({
  name: z.string(),
  tags: z.array(z.string()).optional(),
  maxUses: z.number().int().optional(),
  /** Lifetime; absent: never expires. */
  expiresInHours: z.number().int().optional(),
});
export type CreateClaimTokenRequest = z.input<typeof CreateClaimTokenRequest>;

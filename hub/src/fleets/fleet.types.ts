import { z } from 'zod';

export const Fleet = z.object({
  id: z.string(),
  name: z.string(),
  description: z.string(),
  createdAt: z.date(),
  /** Devices not decommissioned. */
  deviceCount: z.number().int(),
});
export type Fleet = z.infer<typeof Fleet>;

export const ClaimToken = z.object({
  id: z.string(),
  fleetId: z.string(),
  name: z.string(),
  tags: z.array(z.string()),
  maxUses: z.number().int().nullable(),
  uses: z.number().int(),
  expiresAt: z.date().nullable(),
  revokedAt: z.date().nullable(),
  createdAt: z.date(),
  createdBy: z.string(),
});
export type ClaimToken = z.infer<typeof ClaimToken>;

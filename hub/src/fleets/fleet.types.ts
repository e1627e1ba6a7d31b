import {
  ClaimToken as ApiClaimToken,
  Fleet as ApiFleet,
  NewClaimToken as ApiNewClaimToken,
} from '@fleet/protocol';
import { z } from 'zod';

// protocol's fleet answers (decisions 0004, 0091) with the hub's Dates where the wire has ISO
// text: the hub builds these from Prisma rows and documents them with @Returns.

export const Fleet = ApiFleet.extend({ createdAt: z.date() });
export type Fleet = z.infer<typeof Fleet>;

const ClaimTokenDates = {
  expiresAt: z.date().nullable(),
  revokedAt: z.date().nullable(),
  createdAt: z.date(),
};

export const ClaimToken = ApiClaimToken.extend(ClaimTokenDates);
export type ClaimToken = z.infer<typeof ClaimToken>;

/** `POST /fleets/:fleet/claim-tokens`: the secret is in this answer only. */
export const NewClaimToken = ApiNewClaimToken.extend(ClaimTokenDates);
export type NewClaimToken = z.infer<typeof NewClaimToken>;

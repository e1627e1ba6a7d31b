import {
  Release as ApiRelease,
  ReleaseSummary as ApiReleaseSummary,
  SigningKeyRecord as ApiSigningKeyRecord,
} from '@fleet/protocol';
import { z } from 'zod';

// protocol's release answers (decision 0004) with the hub's Dates where the wire has ISO text:
// the hub builds these from Prisma rows and documents them with @Returns.

const ReleaseDates = { createdAt: z.date(), yankedAt: z.date().nullable() };

export const ReleaseSummary = ApiReleaseSummary.extend(ReleaseDates);
export type ReleaseSummary = z.infer<typeof ReleaseSummary>;

export const Release = ApiRelease.extend(ReleaseDates);
export type Release = z.output<typeof Release>;

export const SigningKeyRecord = ApiSigningKeyRecord.extend({
  createdAt: z.date(),
  revokedAt: z.date().nullable(),
});
export type SigningKeyRecord = z.infer<typeof SigningKeyRecord>;

import { ReleaseManifest } from '@fleet/protocol';
import { z } from 'zod';

export const ReleaseSummary = z.object({
  id: z.string(),
  version: z.string(),
  sequence: z.number().int(),
  manifestDigest: z.string(),
  board: z.string(),
  compatibleBoards: z.array(z.string()),
  notes: z.string(),
  createdAt: z.date(),
  createdBy: z.string(),
  yankedAt: z.date().nullable(),
  yankReason: z.string().nullable(),
});
export type ReleaseSummary = z.infer<typeof ReleaseSummary>;

export const Release = ReleaseSummary.extend({
  manifest: ReleaseManifest,
  objects: z.array(z.object({ digest: z.string(), size: z.number().int(), role: z.string() })),
  signedBy: z.array(z.string()),
});
export type Release = z.output<typeof Release>;

export const SigningKeyRecord = z.object({
  keyId: z.string(),
  alg: z.string(),
  publicKey: z.string(),
  name: z.string(),
  createdAt: z.date(),
  revokedAt: z.date().nullable(),
});
export type SigningKeyRecord = z.infer<typeof SigningKeyRecord>;

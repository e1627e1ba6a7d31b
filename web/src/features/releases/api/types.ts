import { z } from 'zod';
import { IsoDate } from '../../../lib/schemas.js';

export const ReleaseSummary = z.object({
  id: z.string(),
  version: z.string(),
  sequence: z.number(),
  manifestDigest: z.string(),
  board: z.string(),
  compatibleBoards: z.array(z.string()),
  notes: z.string(),
  createdAt: IsoDate,
  createdBy: z.string(),
  yankedAt: IsoDate.nullable(),
  yankReason: z.string().nullable(),
});
export type ReleaseSummary = z.infer<typeof ReleaseSummary>;

const ObjectRef = z.object({ digest: z.string(), size: z.number(), mediaType: z.string().optional() });

// Only what the dashboard shows of protocol's ReleaseManifest; the hub validated the rest.
const ManifestContainer = z.object({
  image: z.object({ ref: z.string(), digest: z.string() }),
  rootfs: ObjectRef,
  group: z.string().optional(),
  restart: z.object({ policy: z.string() }).partial().optional(),
  statusGoal: z.string().optional(),
  network: z.string().optional(),
  health: z.unknown().optional(),
});

export const Release = ReleaseSummary.extend({
  manifest: z.object({
    containers: z.record(z.string(), ManifestContainer),
    signatures: z.array(z.object({ keyId: z.string(), alg: z.string() })),
    minAgentVersion: z.string().optional(),
    system: z.record(z.string(), ObjectRef.optional()).optional(),
  }),
  objects: z.array(z.object({ digest: z.string(), size: z.number(), role: z.string() })),
  signedBy: z.array(z.string()),
});
export type Release = z.infer<typeof Release>;

export const SigningKey = z.object({
  keyId: z.string(),
  alg: z.string(),
  publicKey: z.string(),
  name: z.string(),
  createdAt: IsoDate,
  revokedAt: IsoDate.nullable(),
});
export type SigningKey = z.infer<typeof SigningKey>;

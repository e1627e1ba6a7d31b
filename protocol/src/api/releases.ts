import { z } from 'zod';
import { ReleaseManifest } from '../manifest.js';
import { ApiDate } from './common.js';

export const ReleaseSummary = z.object({
  id: z.string(),
  version: z.string(),
  sequence: z.number().int(),
  manifestDigest: z.string(),
  board: z.string(),
  compatibleBoards: z.array(z.string()),
  notes: z.string(),
  createdAt: ApiDate,
  createdBy: z.string(),
  yankedAt: ApiDate.nullable(),
  yankReason: z.string().nullable(),
});
export type ReleaseSummary = z.infer<typeof ReleaseSummary>;

/** One object the release refers to, with its role (`container:web`, `system:kernel`, ...). */
export const ReleaseObject = z.object({ digest: z.string(), size: z.number().int(), role: z.string() });
export type ReleaseObject = z.infer<typeof ReleaseObject>;

/** `GET /releases/:release`: the signed manifest as stored and sent to devices. */
export const Release = ReleaseSummary.extend({
  manifest: ReleaseManifest,
  objects: z.array(ReleaseObject),
  /** Key ids of the signatures the hub verified. */
  signedBy: z.array(z.string()),
});
export type Release = z.output<typeof Release>;

/** `/keys`: an organisation's release-signing public key. */
export const SigningKeyRecord = z.object({
  keyId: z.string(),
  alg: z.string(),
  publicKey: z.string(),
  name: z.string(),
  createdAt: ApiDate,
  revokedAt: ApiDate.nullable(),
});
export type SigningKeyRecord = z.infer<typeof SigningKeyRecord>;

export const CreateKeyRequest = z.object({
  name: z.string(),
  alg: z.literal('ed25519').optional(),
  /** Raw 32-byte ed25519 public key, base64. */
  publicKey: z.string(),
  /** When given it must equal the key id derived from the key. */
  keyId: z.string().optional(),
});
export type CreateKeyRequest = z.input<typeof CreateKeyRequest>;

export const YankRequest = z.object({ reason: z.string() });
export type YankRequest = z.input<typeof YankRequest>;

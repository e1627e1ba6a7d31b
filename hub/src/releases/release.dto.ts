import { TrustRoot } from '@fleet/protocol';
import { z } from 'zod';
import { QueryBool } from '../common/validation.js';

export const CreateKeyRequest = z.strictObject({
  name: z.string().min(1).max(200),
  alg: z.literal('ed25519').default('ed25519'),
  /** Raw 32-byte ed25519 public key, base64 (protocol TrustRoot.publicKey). */
  publicKey: TrustRoot.shape.publicKey,
  /** Optional; when given it must equal the key id derived from the key. */
  keyId: TrustRoot.shape.keyId.optional(),
});
export type CreateKeyRequest = z.infer<typeof CreateKeyRequest>;

export const ListReleasesQuery = z.strictObject({
  includeYanked: QueryBool.default(false),
  board: z.string().max(64).optional(),
  limit: z.coerce.number().int().min(1).max(500).default(50),
  cursor: z.string().max(200).optional(),
});
export type ListReleasesQuery = z.infer<typeof ListReleasesQuery>;

export const YankRequest = z.strictObject({ reason: z.string().min(1).max(2000) });
export type YankRequest = z.infer<typeof YankRequest>;

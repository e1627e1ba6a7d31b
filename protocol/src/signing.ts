import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  sign,
  verify,
  type KeyObject,
} from 'node:crypto';
import { z } from 'zod';
import { canonicalJson } from './canonical-json.js';
import type { Digest } from './digest.js';
import type { ReasonCode } from './enums.js';
import { KeyId, type Signature } from './manifest.js';
import { describe, err, ok, type Result } from './result.js';

// An ed25519 SubjectPublicKeyInfo is this 12-byte DER prefix followed by the 32-byte key.
const ED25519_SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

// Ed25519 encodings of points of small order (libsodium's blocklist), with and without the sign
// bit. A "public key" among them verifies forged signatures (OpenSSL does not refuse them), so a
// trust root may never be one.
const SMALL_ORDER = new Set(
  [
    '0000000000000000000000000000000000000000000000000000000000000000',
    '0100000000000000000000000000000000000000000000000000000000000000',
    '26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05',
    'c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a',
    'ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
    'edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
    'eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f',
  ].flatMap((hex) => {
    const b = Buffer.from(hex, 'hex');
    const signed = Buffer.from(b);
    signed[31] = (signed[31] ?? 0) | 0x80;
    return [b.toString('base64'), signed.toString('base64')];
  }),
);

export function isWeakPublicKey(base64: string): boolean {
  return SMALL_ORDER.has(base64);
}

/** A public key a device or the hub trusts to sign releases. `publicKey` is the raw 32 bytes, base64. */
export const TrustRoot = z.strictObject({
  keyId: KeyId,
  publicKey: z
    .string()
    .regex(/^[A-Za-z0-9+/]{43}=$/, { error: 'must be a base64 raw ed25519 public key (32 bytes)' })
    .refine((k) => !isWeakPublicKey(k), { error: 'is a small-order point, not a usable ed25519 key' }),
  name: z.string().max(200).optional(),
});
export type TrustRoot = z.infer<typeof TrustRoot>;

export interface SigningKey {
  keyId: string;
  /** PKCS#8 PEM. */
  privateKeyPem: string;
  /** The matching trust root to give to devices and the hub. */
  trustRoot: TrustRoot;
}

/** The key id: the first 16 hex digits of the sha256 of the raw public key. */
export function keyIdOf(rawPublicKey: Buffer): string {
  return createHash('sha256').update(rawPublicKey).digest('hex').slice(0, 16);
}

function rawPublicKey(key: KeyObject): Buffer {
  const der = key.export({ type: 'spki', format: 'der' });
  return der.subarray(der.length - 32);
}

export function generateSigningKey(name?: string): SigningKey {
  const { privateKey } = generateKeyPairSync('ed25519');
  return signingKeyFromPem(privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(), name);
}

export function signingKeyFromPem(privateKeyPem: string, name?: string): SigningKey {
  const priv = createPrivateKey(privateKeyPem);
  if (priv.asymmetricKeyType !== 'ed25519') throw new TypeError('release signing keys must be ed25519');
  const raw = rawPublicKey(createPublicKey(priv));
  const keyId = keyIdOf(raw);
  return {
    keyId,
    privateKeyPem,
    trustRoot: { keyId, publicKey: raw.toString('base64'), ...(name ? { name } : {}) },
  };
}

/** The bytes a signature covers: the canonical JSON of the manifest without `signatures`. */
export function signingPayload(manifest: object): Buffer {
  const { signatures: _signatures, ...rest } = manifest as Record<string, unknown>;
  return Buffer.from(canonicalJson(rest), 'utf8');
}

/** The identity of a revision: the sha256 of its signing payload. Signatures do not change it. */
export function manifestDigest(manifest: object): Digest {
  return `sha256:${createHash('sha256').update(signingPayload(manifest)).digest('hex')}`;
}

/**
 * Adds (or replaces) this key's signature. Sign exactly the document you publish: the parsed
 * manifest (defaults filled in), which parses to itself.
 */
export function signManifest<T extends { signatures?: Signature[] | undefined }>(
  manifest: T,
  key: SigningKey,
): T & { signatures: Signature[] } {
  const sig = sign(null, signingPayload(manifest), createPrivateKey(key.privateKeyPem)).toString('base64');
  const others = (manifest.signatures ?? []).filter((s) => s.keyId !== key.keyId);
  return { ...manifest, signatures: [...others, { keyId: key.keyId, alg: 'ed25519', sig }] };
}

export interface TrustFailure {
  reason: Extract<ReasonCode, 'signature-invalid' | 'unknown-signing-key' | 'manifest-invalid'>;
  message: string;
}

/**
 * Verifies a manifest against trust roots. Accepts when at least `threshold` distinct trusted
 * keys made valid signatures; signatures by unknown keys are ignored (a release may carry the
 * signature of a key only some devices trust). Never throws.
 */
export function verifyManifest(
  manifest: unknown,
  roots: readonly TrustRoot[],
  threshold = 1,
): Result<{ keyIds: string[] }, TrustFailure> {
  try {
    if (typeof manifest !== 'object' || manifest === null || Array.isArray(manifest)) {
      return err({ reason: 'manifest-invalid', message: 'manifest is not a JSON object' });
    }
    const sigs = (manifest as { signatures?: unknown }).signatures;
    if (!Array.isArray(sigs) || sigs.length === 0) {
      return err({ reason: 'signature-invalid', message: 'manifest carries no signature' });
    }
    const byId = new Map(roots.map((r) => [r.keyId, r]));
    const payload = signingPayload(manifest);
    const good = new Set<string>();
    const bad: string[] = [];
    let known = 0;
    for (const s of sigs as unknown[]) {
      if (typeof s !== 'object' || s === null) continue;
      const { keyId, alg, sig } = s as Record<string, unknown>;
      if (typeof keyId !== 'string' || alg !== 'ed25519' || typeof sig !== 'string') continue;
      const root = byId.get(keyId);
      if (!root || isWeakPublicKey(root.publicKey)) continue;
      known++;
      const key = createPublicKey({
        key: Buffer.concat([ED25519_SPKI_PREFIX, Buffer.from(root.publicKey, 'base64')]),
        format: 'der',
        type: 'spki',
      });
      if (verify(null, payload, key, Buffer.from(sig, 'base64'))) good.add(keyId);
      else bad.push(keyId);
    }
    if (good.size >= threshold) return ok({ keyIds: [...good].sort() });
    if (known === 0) {
      return err({
        reason: 'unknown-signing-key',
        message: `no signature by a trusted key (signed by ${describeSigners(sigs)})`,
      });
    }
    return err({
      reason: 'signature-invalid',
      message: bad.length
        ? `signature by key ${bad.join(', ')} does not match the manifest`
        : `${good.size} valid trusted signature(s), ${threshold} required`,
    });
  } catch (e) {
    return err({ reason: 'signature-invalid', message: `signature check failed: ${describe(e)}` });
  }
}

function describeSigners(sigs: unknown[]): string {
  const ids = sigs.map((s) =>
    typeof s === 'object' && s && 'keyId' in s ? String((s as { keyId: unknown }).keyId) : '?',
  );
  return ids.join(', ') || 'nobody';
}

export interface SequenceCheck {
  /** Sequence of the revision the device runs committed, or null on a fresh device. */
  committed: number | null;
  candidate: number;
  /**
   * Sequences of revisions this device committed before and still stores. Going back to one of
   * those is a rollback the operator asked for, not a replay attack.
   */
  storedCommitted?: readonly number[];
}

/**
 * Anti-rollback: a device accepts only a strictly higher sequence than the one it runs, or a
 * revision it committed before and still holds.
 */
export function checkSequence(
  c: SequenceCheck,
): Result<'newer' | 'known-rollback', { reason: 'sequence-not-newer'; message: string }> {
  if (c.committed === null || c.candidate > c.committed) return ok('newer');
  if (c.storedCommitted?.includes(c.candidate)) return ok('known-rollback');
  return err({
    reason: 'sequence-not-newer',
    message: `release sequence ${c.candidate} is not above the committed ${c.committed} and is not a stored earlier revision`,
  });
}

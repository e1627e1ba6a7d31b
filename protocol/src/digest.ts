import { z } from 'zod';
import { err, ok, ProtocolError, type Result } from './result.js';

export const DIGEST_PATTERN = /^sha256:[0-9a-f]{64}$/;

/** A content address: `sha256:` and 64 lower-case hex digits. */
export const Digest = z
  .string()
  .regex(DIGEST_PATTERN, { error: 'must be "sha256:" followed by 64 lower-case hex digits' });
export type Digest = z.infer<typeof Digest>;

/** An immutable object (squashfs rootfs, kernel, slot image) and its size in bytes. */
export const ObjectRef = z.strictObject({
  digest: Digest,
  size: z.number().int().nonnegative().max(Number.MAX_SAFE_INTEGER),
  mediaType: z.string().min(1).max(255).optional(),
});
export type ObjectRef = z.infer<typeof ObjectRef>;

export function parseDigest(input: unknown): Result<Digest> {
  if (typeof input === 'string' && DIGEST_PATTERN.test(input)) return ok(input);
  return err(
    new ProtocolError('Digest', [
      {
        path: '$',
        code: 'invalid_format',
        message: 'must be "sha256:" followed by 64 lower-case hex digits',
      },
    ]),
  );
}

/** The hex part of a digest, the name of the object's file in every store. */
export function digestHex(digest: Digest): string {
  return digest.slice('sha256:'.length);
}

/**
 * The URL an object is served at: `<base>/sha256/<hex>`, where base is the hub's object
 * endpoint (`https://hub.example/api/v1/objects`). The agent downloads from exactly this URL
 * and the hub routes exactly this path, so both build it here.
 */
export function objectUrl(baseUrl: string, digest: Digest): string {
  return `${baseUrl.replace(/\/+$/, '')}/sha256/${digestHex(digest)}`;
}

/** Reads the digest back out of an object URL; the inverse of {@link objectUrl}. */
export function parseObjectUrl(url: unknown): Result<{ baseUrl: string; digest: Digest }> {
  const m = typeof url === 'string' ? /^(.*)\/sha256\/([0-9a-f]{64})$/.exec(url) : null;
  if (!m || !m[1]) {
    return err(
      new ProtocolError('ObjectUrl', [
        { path: '$', code: 'invalid_format', message: 'must end in /sha256/<64 hex digits>' },
      ]),
    );
  }
  return ok({ baseUrl: m[1], digest: `sha256:${m[2]}` });
}

import { createHash, randomBytes } from 'node:crypto';

export function sha256Hex(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** A random secret, base64url: 32 bytes = 256 bits, so a fast hash of it is safe to store. */
export function newSecret(bytes = 32): string {
  return randomBytes(bytes).toString('base64url');
}

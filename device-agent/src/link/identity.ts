import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto';
import { readFile, rename } from 'node:fs/promises';
import { join } from 'node:path';
import { isDeviceId, parseProvisionResponse, type ProvisionResponse } from '@fleet/protocol';
import { ensurePrivateDir, writeFileAtomic } from './atomic-file.js';

/** What the hub handed this device at provisioning; the same shape as protocol's ProvisionResponse. */
export type DeviceCredentials = ProvisionResponse;

/**
 * The device's identity on its data partition: `<storageDir>/identity/` (0700) with
 * `device.key` (ed25519 private key, PKCS#8 PEM, 0600), `device.pub` (raw public key, base64)
 * and, once provisioned, `credentials.json` (0600). The private key never leaves the device;
 * the hub only ever sees the public half.
 */
export class IdentityStore {
  readonly dir: string;

  constructor(storageDir: string) {
    this.dir = join(storageDir, 'identity');
  }

  get keyPath(): string {
    return join(this.dir, 'device.key');
  }
  get publicKeyPath(): string {
    return join(this.dir, 'device.pub');
  }
  get credentialsPath(): string {
    return join(this.dir, 'credentials.json');
  }

  /**
   * Loads the key pair, generating it on first use. A crash between generating and
   * provisioning leaves the key on disk, so the retry presents the same public key.
   */
  async loadOrCreateKey(): Promise<{ privateKey: KeyObject; publicKeyBase64: string }> {
    await ensurePrivateDir(this.dir);
    const existing = await readFile(this.keyPath, 'utf8').catch((e: NodeJS.ErrnoException) => {
      if (e.code === 'ENOENT') return null;
      throw e;
    });
    if (existing !== null) {
      let privateKey: KeyObject;
      try {
        privateKey = createPrivateKey(existing);
      } catch (e) {
        throw new Error(
          `device key ${this.keyPath} is unreadable (${(e as Error).message}); move it away to generate a new identity`,
          { cause: e },
        );
      }
      if (privateKey.asymmetricKeyType !== 'ed25519')
        throw new Error(`device key ${this.keyPath} is ${privateKey.asymmetricKeyType}, not ed25519`);
      return { privateKey, publicKeyBase64: rawPublicKeyBase64(createPublicKey(privateKey)) };
    }
    const { privateKey, publicKey } = generateKeyPairSync('ed25519');
    const publicKeyBase64 = rawPublicKeyBase64(publicKey);
    // Public first: if the crash lands between the two writes, the next boot regenerates both.
    await writeFileAtomic(this.publicKeyPath, `${publicKeyBase64}\n`, 0o600);
    await writeFileAtomic(this.keyPath, privateKey.export({ format: 'pem', type: 'pkcs8' }), 0o600);
    return { privateKey, publicKeyBase64 };
  }

  /**
   * The stored credentials, or null when the device is not provisioned. A file that does not
   * validate is moved aside (kept for inspection, never deleted) and null returned, so the
   * device provisions again instead of looping on a broken file.
   */
  async loadCredentials(onCorrupt?: (message: string) => void): Promise<DeviceCredentials | null> {
    let text: string;
    try {
      text = await readFile(this.credentialsPath, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw e;
    }
    let problem: string;
    try {
      const r = parseProvisionResponse(JSON.parse(text));
      if (r.ok && isDeviceId(r.value.deviceId)) return r.value;
      problem = r.ok
        ? `deviceId ${JSON.stringify(r.value.deviceId)} is not a valid device id`
        : r.error.message;
    } catch (e) {
      problem = `not JSON: ${(e as Error).message}`;
    }
    const aside = `${this.credentialsPath}.corrupt-${Date.now()}`;
    await rename(this.credentialsPath, aside);
    onCorrupt?.(
      `credentials ${this.credentialsPath} are invalid (${problem}); moved to ${aside}, provisioning again`,
    );
    return null;
  }

  async saveCredentials(credentials: DeviceCredentials): Promise<void> {
    await ensurePrivateDir(this.dir);
    await writeFileAtomic(this.credentialsPath, `${JSON.stringify(credentials, null, 2)}\n`, 0o600);
  }
}

/** The raw 32-byte ed25519 public key in standard base64, the form ProvisionRequest carries. */
export function rawPublicKeyBase64(publicKey: KeyObject): string {
  const jwk = publicKey.export({ format: 'jwk' });
  if (typeof jwk.x !== 'string') throw new Error('public key has no raw component');
  return Buffer.from(jwk.x, 'base64url').toString('base64');
}

/**
 * A stable id of the hardware: the device-tree serial on boards, the DMI product UUID on PCs,
 * else systemd's machine-id. Re-provisioning the same board yields the same device at the hub.
 */
export async function readHardwareId(
  read: (path: string) => Promise<string> = (p) => readFile(p, 'utf8'),
): Promise<string> {
  const candidates = ['/proc/device-tree/serial-number', '/sys/class/dmi/id/product_uuid', '/etc/machine-id'];
  for (const path of candidates) {
    try {
      // Device-tree strings end with NUL.
      const value = (await read(path)).replace(/\0/g, '').trim();
      if (value.length > 0 && value.length <= 128) return value;
    } catch {
      // Absent or unreadable (product_uuid is root-only): try the next source.
    }
  }
  throw new Error(`no hardware id: none of ${candidates.join(', ')} is readable`);
}

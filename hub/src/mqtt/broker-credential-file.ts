import { randomBytes, scrypt as scryptCb, timingSafeEqual } from 'node:crypto';
import { mkdir, open, readFile, rename } from 'node:fs/promises';
import { dirname } from 'node:path';
import { promisify } from 'node:util';
import { z } from 'zod';

const scrypt = promisify(scryptCb) as (
  password: string,
  salt: Buffer,
  keylen: number,
  options: { N: number; r: number; p: number },
) => Promise<Buffer>;

/**
 * Broker passwords are random secrets minted by the hub at provisioning, not human passwords,
 * so the hash only has to keep the file from being a list of usable passwords; a light scrypt
 * keeps a reconnect storm of thousands of devices cheap (Mosquitto itself uses 101 PBKDF2
 * iterations for the same reason).
 */
const SCRYPT = { N: 1024, r: 8, p: 1 } as const;
const KEY_LENGTH = 32;

export const StoredBrokerCredential = z.object({
  deviceId: z.string().min(1),
  username: z.string().min(1),
  salt: z.string().min(1),
  hash: z.string().min(1),
});
export type StoredBrokerCredential = z.infer<typeof StoredBrokerCredential>;

export const BrokerCredentialFile = z.object({
  version: z.literal(1),
  devices: z.array(StoredBrokerCredential),
});
export type BrokerCredentialFile = z.infer<typeof BrokerCredentialFile>;

export async function hashBrokerPassword(password: string): Promise<{ salt: string; hash: string }> {
  const salt = randomBytes(16);
  const hash = await scrypt(password, salt, KEY_LENGTH, SCRYPT);
  return { salt: salt.toString('base64'), hash: hash.toString('base64') };
}

export async function verifyBrokerPassword(
  password: string,
  stored: Pick<StoredBrokerCredential, 'salt' | 'hash'>,
): Promise<boolean> {
  const expected = Buffer.from(stored.hash, 'base64');
  const actual = await scrypt(password, Buffer.from(stored.salt, 'base64'), KEY_LENGTH, SCRYPT);
  return expected.length === actual.length && timingSafeEqual(expected, actual);
}

/**
 * The embedded broker's credential database: one JSON file (mode 0600) next to the hub's data,
 * the counterpart of Mosquitto's dynamic-security.json. Writes are atomic (temp file, fsync,
 * rename) so a crash leaves either the old or the new file, never a truncated one.
 */
export class BrokerCredentialStore {
  readonly #path: string;
  readonly #byDevice = new Map<string, StoredBrokerCredential>();
  #writing: Promise<void> = Promise.resolve();

  private constructor(path: string) {
    this.#path = path;
  }

  /** Opens the file, creating an empty store when it does not exist; a corrupt file throws. */
  static async open(path: string): Promise<BrokerCredentialStore> {
    const store = new BrokerCredentialStore(path);
    let text: string | undefined;
    try {
      text = await readFile(path, 'utf8');
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
    if (text !== undefined) {
      let json: unknown;
      try {
        json = JSON.parse(text);
      } catch (error) {
        throw new Error(`broker credential file ${path} is not JSON: ${(error as Error).message}`, {
          cause: error,
        });
      }
      const parsed = BrokerCredentialFile.safeParse(json);
      if (!parsed.success)
        throw new Error(`broker credential file ${path} is invalid: ${parsed.error.message}`);
      for (const c of parsed.data.devices) store.#byDevice.set(c.deviceId, c);
    }
    return store;
  }

  get(deviceId: string): StoredBrokerCredential | undefined {
    return this.#byDevice.get(deviceId);
  }

  all(): IterableIterator<StoredBrokerCredential> {
    return this.#byDevice.values();
  }

  get size(): number {
    return this.#byDevice.size;
  }

  async put(credential: StoredBrokerCredential): Promise<void> {
    this.#byDevice.set(credential.deviceId, credential);
    await this.#save();
  }

  async delete(deviceId: string): Promise<boolean> {
    const had = this.#byDevice.delete(deviceId);
    if (had) await this.#save();
    return had;
  }

  /** Serialised: each save writes the state as of its turn, so the last one on disk is the newest. */
  #save(): Promise<void> {
    const run = this.#writing.then(() => this.#write());
    this.#writing = run.catch(() => undefined);
    return run;
  }

  async #write(): Promise<void> {
    const body: BrokerCredentialFile = { version: 1, devices: [...this.#byDevice.values()] };
    await mkdir(dirname(this.#path), { recursive: true });
    const tmp = `${this.#path}.${process.pid}.tmp`;
    const handle = await open(tmp, 'w', 0o600);
    try {
      await handle.writeFile(JSON.stringify(body));
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(tmp, this.#path);
    const dir = await open(dirname(this.#path), 'r');
    try {
      await dir.sync();
    } finally {
      await dir.close();
    }
  }
}

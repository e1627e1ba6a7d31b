import { chmod, mkdir, readdir, readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { signingKeyFromPem, type SigningKey } from '@fleet/protocol';
import { z } from 'zod';
import { HubctlError } from '../cli/errors.js';

export const LocalKeyInfo = z.object({
  keyId: z.string(),
  name: z.string(),
  publicKey: z.string(),
  createdAt: z.string(),
});
export type LocalKeyInfo = z.infer<typeof LocalKeyInfo>;

/**
 * Release signing keys on this machine: `<dir>/<keyId>.pem` (PKCS#8, mode 0600, never sent
 * anywhere) and `<dir>/<keyId>.json` (name and public key, for listing without the secret).
 */
export class KeyStore {
  constructor(readonly dir: string) {}

  async save(key: SigningKey, name: string, now = new Date()): Promise<LocalKeyInfo> {
    await mkdir(this.dir, { recursive: true, mode: 0o700 });
    const info: LocalKeyInfo = {
      keyId: key.keyId,
      name,
      publicKey: key.trustRoot.publicKey,
      createdAt: now.toISOString(),
    };
    await this.#writeAtomic(`${key.keyId}.pem`, key.privateKeyPem, 0o600);
    await this.#writeAtomic(`${key.keyId}.json`, `${JSON.stringify(info, null, 2)}\n`, 0o600);
    return info;
  }

  async #writeAtomic(name: string, content: string, mode: number): Promise<void> {
    const tmp = join(this.dir, `.${name}.${process.pid}.tmp`);
    await writeFile(tmp, content, { mode });
    await chmod(tmp, mode);
    await rename(tmp, join(this.dir, name));
  }

  async list(): Promise<LocalKeyInfo[]> {
    let names: string[];
    try {
      names = await readdir(this.dir);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw e;
    }
    const out: LocalKeyInfo[] = [];
    for (const n of names.filter((f) => /^[0-9a-f]{16}\.json$/.test(f)).sort()) {
      const r = LocalKeyInfo.safeParse(JSON.parse(await readFile(join(this.dir, n), 'utf8')));
      if (r.success) out.push(r.data);
    }
    return out;
  }

  /** By key id or name; with no selector, the only key there is. */
  async load(selector: string | undefined): Promise<{ key: SigningKey; info: LocalKeyInfo }> {
    const all = await this.list();
    let info: LocalKeyInfo | undefined;
    if (selector === undefined) {
      if (all.length === 0)
        throw new HubctlError(
          `no release signing key in ${this.dir}`,
          'create one with `hubctl keys create --name <name>` (needs an admin token to register it)',
        );
      if (all.length > 1)
        throw new HubctlError(
          `several signing keys in ${this.dir} (${all.map((k) => `${k.keyId} "${k.name}"`).join(', ')})`,
          'choose one with --key <key id or name>',
        );
      info = all[0];
    } else {
      const matches = all.filter((k) => k.keyId === selector || k.name === selector);
      if (matches.length === 0)
        throw new HubctlError(
          `no signing key "${selector}" in ${this.dir}`,
          'list the keys with `hubctl keys ls`',
        );
      if (matches.length > 1)
        throw new HubctlError(`several signing keys are named "${selector}"`, 'give the key id instead');
      info = matches[0];
    }
    const pem = await readFile(join(this.dir, `${info!.keyId}.pem`), 'utf8').catch((e: Error) => {
      throw new HubctlError(`cannot read the private key of ${info!.keyId}: ${e.message}`);
    });
    return { key: signingKeyFromPem(pem, info!.name), info: info! };
  }
}

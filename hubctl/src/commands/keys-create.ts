import { generateSigningKey } from '@fleet/protocol';
import { z } from 'zod';
import { defineCommand } from '../cli/command.js';
import { fields } from '../cli/format.js';
import { KeyStore } from '../keys/key-store.js';

export default defineCommand({
  path: ['keys', 'create'],
  summary:
    'Create an ed25519 release signing key: private part kept here (0600), public part registered with the hub.',
  options: [
    { flags: '--name <name>', description: 'a name for the key, e.g. "ci-2026"' },
    { flags: '--default', description: 'sign releases with this key when --key is not given' },
  ],
  json: true,
  input: z.object({ name: z.string().min(1).max(200), default: z.boolean().default(false) }),
  async run(input, ctx) {
    const hub = await ctx.hub();
    const key = generateSigningKey(input.name);
    // Register first: a key the hub refused (not admin, hub down) must not be left behind
    // looking usable.
    const registered = await hub.createKey({
      name: input.name,
      publicKey: key.trustRoot.publicKey,
      keyId: key.keyId,
    });
    const store = new KeyStore(`${ctx.config.dir}/keys`);
    const info = await store.save(key, input.name);
    if (input.default) {
      const c = await ctx.config.require();
      await ctx.config.write({ ...c, defaultKey: key.keyId });
    }
    return {
      data: { ...info, registeredAt: registered.createdAt, file: `${store.dir}/${key.keyId}.pem` },
      text: fields([
        ['key id', key.keyId],
        ['name', input.name],
        ['public key', key.trustRoot.publicKey],
        ['private key', `${store.dir}/${key.keyId}.pem (mode 0600: back it up, the hub does not have it)`],
      ]),
    };
  },
});

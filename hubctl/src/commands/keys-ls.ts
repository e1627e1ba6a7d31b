import { z } from 'zod';
import { defineCommand } from '../cli/command.js';
import { table, when } from '../cli/format.js';
import { KeyStore } from '../keys/key-store.js';

export default defineCommand({
  path: ['keys', 'ls'],
  summary: 'List release signing keys: registered on the hub and/or held here.',
  options: [{ flags: '--include-revoked', description: 'also keys the hub revoked' }],
  json: true,
  input: z.object({ includeRevoked: z.boolean().default(false) }),
  async run(input, ctx) {
    const hub = await ctx.hub();
    const [remote, local, config] = await Promise.all([
      hub.listKeys(input.includeRevoked),
      new KeyStore(`${ctx.config.dir}/keys`).list(),
      ctx.config.read(),
    ]);
    const ids = [...new Set([...remote.map((k) => k.keyId), ...local.map((k) => k.keyId)])].sort();
    const rows = ids.map((keyId) => {
      const r = remote.find((k) => k.keyId === keyId);
      const l = local.find((k) => k.keyId === keyId);
      return {
        keyId,
        name: r?.name ?? l?.name ?? '',
        onHub: r !== undefined,
        revoked: r?.revokedAt ?? null,
        privateKeyHere: l !== undefined,
        default: config?.defaultKey === keyId,
        createdAt: r?.createdAt ?? l?.createdAt ?? '',
      };
    });
    return {
      data: rows,
      text:
        rows.length === 0
          ? 'no signing keys (create one with `hubctl keys create --name <name>`)\n'
          : table(
              ['KEY ID', 'NAME', 'HUB', 'PRIVATE KEY HERE', 'CREATED'],
              rows.map((k) => [
                `${k.keyId}${k.default ? ' *' : ''}`,
                k.name,
                k.onHub ? (k.revoked ? `revoked ${when(k.revoked)}` : 'registered') : 'not registered',
                k.privateKeyHere ? 'yes' : 'no',
                when(k.createdAt),
              ]),
            ),
    };
  },
});

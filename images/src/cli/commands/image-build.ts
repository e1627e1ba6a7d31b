import { parseArgs } from 'node:util';
import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { TrustRoot } from '@fleet/protocol';
import { loadBoard } from '@fleet/board-support';
import { buildImage } from '../../builder/build-image.js';
import { defaultCacheDir } from '../../cache.js';
import { UsageError } from '../usage-error.js';
import { userPath } from '../user-path.js';

export const BUILD_USAGE = `usage: fleet-image build --board <board> --hub <url> --claim-token <token> --out <dir>
                         [--factory <dir>] [--agent auto|none|<bundle dir>] [--name <name>]
                         [--trust-root <file.json>]...
                         [--release <string>] [--cache <dir>] [--json]`;

const Options = z.object({
  board: z.string({ error: '--board is required' }).min(1),
  hub: z.url({ error: '--hub must be a URL (e.g. http://10.0.2.2:8080)' }),
  'claim-token': z
    .string({ error: '--claim-token is required' })
    .min(16, '--claim-token must have at least 16 characters'),
  out: z.string({ error: '--out is required' }).min(1),
  factory: z.string().optional(),
  agent: z.string().default('auto'),
  name: z
    .string()
    .regex(/^[A-Za-z0-9._-]+$/)
    .optional(),
  release: z.string().optional(),
  cache: z.string().optional(),
  json: z.boolean().default(false),
});

export async function imageBuild(argv: string[], signal: AbortSignal): Promise<string> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      board: { type: 'string' },
      hub: { type: 'string' },
      'claim-token': { type: 'string' },
      out: { type: 'string' },
      factory: { type: 'string' },
      agent: { type: 'string' },
      name: { type: 'string' },
      release: { type: 'string' },
      cache: { type: 'string' },
      json: { type: 'boolean' },
      'trust-root': { type: 'string', multiple: true },
    },
  });
  if (positionals.length > 0) throw new UsageError(`unexpected argument ${positionals[0]}\n${BUILD_USAGE}`);
  const parsed = Options.safeParse(values);
  if (!parsed.success)
    throw new UsageError(`${parsed.error.issues.map((i) => i.message).join('\n')}\n${BUILD_USAGE}`);
  const o = parsed.data;
  const result = await buildImage({
    board: await loadBoard(o.board),
    hubUrl: o.hub,
    claimToken: o['claim-token'],
    outDir: userPath(o.out),
    cacheDir: o.cache ? userPath(o.cache) : defaultCacheDir(),
    agent: o.agent === 'auto' || o.agent === 'none' ? o.agent : { bundleDir: userPath(o.agent) },
    trustRoots: await readTrustRoots(values['trust-root'] ?? []),
    ...(o.factory ? { factoryDir: userPath(o.factory) } : {}),
    ...(o.name ? { name: o.name } : {}),
    ...(o.release ? { release: o.release } : {}),
    signal,
    log: (m) => process.stderr.write(`fleet-image: ${m}\n`),
  });
  if (o.json) return `${JSON.stringify(result.manifest, null, 2)}\n`;
  return [
    `image     ${result.image}`,
    `bmap      ${result.bmap}`,
    `sha256    ${result.sha256File}`,
    `manifest  ${result.manifestPath}`,
    `rootfs    ${result.manifest.rootfs.digest}`,
    '',
  ].join('\n');
}

/** `--trust-root` files: one protocol TrustRoot (or an array of them) as JSON each. */
async function readTrustRoots(files: string[]): Promise<TrustRoot[]> {
  const roots: TrustRoot[] = [];
  for (const file of files) {
    let json: unknown;
    try {
      json = JSON.parse(await readFile(userPath(file), 'utf8'));
    } catch (e) {
      throw new UsageError(`--trust-root ${file}: ${(e as Error).message}`);
    }
    for (const [i, item] of (Array.isArray(json) ? json : [json]).entries()) {
      const parsed = TrustRoot.safeParse(item);
      if (!parsed.success) {
        throw new UsageError(
          `--trust-root ${file}: ${parsed.error.issues.map((x) => `$${Array.isArray(json) ? `[${i}]` : ''}.${x.path.join('.')}: ${x.message}`).join('; ')}`,
        );
      }
      roots.push(parsed.data);
    }
  }
  return roots;
}

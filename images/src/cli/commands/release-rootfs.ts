import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { signingKeyFromPem } from '@fleet/protocol';
import { releaseRootfs, rootfsOfImageManifest } from '../../release/release-rootfs.js';
import { UsageError } from '../usage-error.js';
import { userPath } from '../user-path.js';

export const RELEASE_ROOTFS_USAGE = `usage: fleet-image release-rootfs (--image-manifest <fleet-<board>.manifest.json> | --rootfs <slot.ext4> --board <board>)
                         --version <semver> --sequence <n> --key <ed25519 private key .pem> --out <dir>
                         [--release <name>] [--notes <text>] [--min-agent-version <semver>] [--json]`;

const Options = z.object({
  'image-manifest': z.string().optional(),
  rootfs: z.string().optional(),
  board: z.string().optional(),
  version: z
    .string({ error: '--version is required' })
    .regex(/^\d+\.\d+\.\d+(?:[-+][0-9A-Za-z.+-]+)?$/, '--version must be a semantic version (1.2.3)'),
  sequence: z.coerce
    .number({ error: '--sequence is required' })
    .int('--sequence must be an integer')
    .positive('--sequence must be positive'),
  key: z.string({ error: '--key is required' }).min(1),
  out: z.string({ error: '--out is required' }).min(1),
  release: z.string().optional(),
  notes: z.string().optional(),
  'min-agent-version': z.string().optional(),
  json: z.boolean().default(false),
});

/** `fleet-image release-rootfs`: a built slot image → a signed system release directory. */
export async function releaseRootfsCommand(argv: string[]): Promise<string> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      'image-manifest': { type: 'string' },
      rootfs: { type: 'string' },
      board: { type: 'string' },
      version: { type: 'string' },
      sequence: { type: 'string' },
      key: { type: 'string' },
      out: { type: 'string' },
      release: { type: 'string' },
      notes: { type: 'string' },
      'min-agent-version': { type: 'string' },
      json: { type: 'boolean' },
    },
  });
  if (positionals.length > 0)
    throw new UsageError(`unexpected argument ${positionals[0]}\n${RELEASE_ROOTFS_USAGE}`);
  const parsed = Options.safeParse(values);
  if (!parsed.success)
    throw new UsageError(`${parsed.error.issues.map((i) => i.message).join('\n')}\n${RELEASE_ROOTFS_USAGE}`);
  const o = parsed.data;
  let rootfsImage: string;
  let board: string;
  if (o['image-manifest']) {
    if (o.rootfs)
      throw new UsageError(`give --image-manifest or --rootfs, not both\n${RELEASE_ROOTFS_USAGE}`);
    const found = await rootfsOfImageManifest(userPath(o['image-manifest']));
    rootfsImage = found.rootfsImage;
    board = o.board ?? found.board;
  } else {
    if (!o.rootfs || !o.board)
      throw new UsageError(
        `--image-manifest, or --rootfs with --board, is required\n${RELEASE_ROOTFS_USAGE}`,
      );
    rootfsImage = userPath(o.rootfs);
    board = o.board;
  }
  const pem = await readFile(userPath(o.key), 'utf8').catch((e: Error) => {
    throw new UsageError(`--key ${o.key}: ${e.message}`);
  });
  let key;
  try {
    key = signingKeyFromPem(pem);
  } catch (e) {
    throw new UsageError(`--key ${o.key}: not an ed25519 private key (${(e as Error).message})`);
  }
  const result = await releaseRootfs({
    rootfsImage,
    board,
    version: o.version,
    sequence: o.sequence,
    key,
    outDir: userPath(o.out),
    ...(o.release ? { release: o.release } : {}),
    ...(o.notes ? { notes: o.notes } : {}),
    ...(o['min-agent-version'] ? { minAgentVersion: o['min-agent-version'] } : {}),
  });
  if (o.json)
    return `${JSON.stringify({ manifest: result.manifestPath, object: result.object, keyId: key.keyId }, null, 2)}\n`;
  return [
    `release   ${result.manifestPath} (${result.manifest.version}, sequence ${result.manifest.sequence}, signed by ${key.keyId})`,
    `rootfs    ${result.object.digest} ${result.object.size} bytes`,
    `object    ${result.object.path}`,
    '',
  ].join('\n');
}

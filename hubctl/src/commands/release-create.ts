import { statSync } from 'node:fs';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import type { RegistryOptions } from '@fleet/device-agent/oci';
import { manifestDigest, manifestObjects, signManifest } from '@fleet/protocol';
import { z } from 'zod';
import { defineCommand } from '../cli/command.js';
import { HubctlError, HubRequestError, UsageError } from '../cli/errors.js';
import type { HubClient } from '../hub/hub-client.js';
import { bytes, fields } from '../cli/format.js';
import { KeyStore } from '../keys/key-store.js';
import {
  checkManifest,
  manifestInput,
  parseReleaseFile,
  PLACEHOLDER_IMAGE,
  ReleaseFileError,
  resolveImageRef,
  type ConvertedImage,
  type ImageRefKind,
} from '../release/release-file.js';
import { uploadMissing } from '../release/upload.js';
import { IntText } from './inputs.js';

export const ReleaseCreateInput = z.object({
  file: z.string({ error: 'is required: the release file (release.yaml)' }).min(1),
  key: z.string().min(1).optional(),
  sequence: IntText(1, Number.MAX_SAFE_INTEGER).optional(),
  registryHttp: z.boolean().default(false),
  registryCa: z.string().min(1).optional(),
  registryUser: z.string().min(1).optional(),
});

/**
 * The hub's latest sequence + 1, or, when this version is already published, its own
 * sequence: running the same command again (say, after a lost answer) then re-registers the
 * identical release (200) instead of failing on a version conflict.
 */
async function nextSequence(hub: HubClient, version: string): Promise<number> {
  try {
    return (await hub.getRelease(version)).sequence;
  } catch (e) {
    if (!(e instanceof HubRequestError && e.status === 404)) throw e;
  }
  return ((await hub.listReleases({ includeYanked: true, limit: 1 })).items[0]?.sequence ?? 0) + 1;
}

async function registryOptions(
  input: z.output<typeof ReleaseCreateInput>,
  env: NodeJS.ProcessEnv,
  cwd: string,
): Promise<RegistryOptions> {
  const password = env.HUBCTL_REGISTRY_PASSWORD;
  if (input.registryUser !== undefined && !password) {
    throw new UsageError(
      '--registry-user: set the password in HUBCTL_REGISTRY_PASSWORD (never on the command line)',
    );
  }
  const ca =
    input.registryCa === undefined
      ? undefined
      : await readFile(resolve(cwd, input.registryCa)).catch((e: Error) => {
          throw new UsageError(`--registry-ca: cannot read ${input.registryCa}: ${e.message}`);
        });
  return {
    ...(input.registryHttp ? { plainHttp: true } : {}),
    ...(ca !== undefined ? { ca } : {}),
    ...(input.registryUser !== undefined && password
      ? { credentials: { username: input.registryUser, password } }
      : {}),
  };
}

function kindOf(p: string): ImageRefKind {
  try {
    return statSync(p).isDirectory() ? 'directory' : 'file';
  } catch {
    return 'missing';
  }
}

export default defineCommand({
  path: ['release', 'create'],
  summary:
    'Build a release from release.yaml: convert images locally, upload missing objects, sign, register.',
  options: [
    { flags: '-f, --file <path>', description: 'release file (YAML)' },
    {
      flags: '--key <key>',
      description: 'signing key id or name (default: the default key, or the only one)',
    },
    {
      flags: '--sequence <n>',
      description: "release sequence (default: the hub's latest + 1; the file's `sequence:` wins over both)",
    },
    {
      flags: '--registry-http',
      description: 'pull registry images over plain HTTP (a local or LAN registry)',
    },
    {
      flags: '--registry-ca <file>',
      description: 'extra CA certificate (PEM) for registries and their token services',
    },
    {
      flags: '--registry-user <name>',
      description: 'registry user; the password is read from HUBCTL_REGISTRY_PASSWORD',
    },
  ],
  json: true,
  input: ReleaseCreateInput,
  async run(input, ctx) {
    const path = resolve(ctx.cwd, input.file);
    const text = await readFile(path, 'utf8').catch((e: NodeJS.ErrnoException) => {
      throw new HubctlError(`cannot read ${input.file}: ${e.code === 'ENOENT' ? 'no such file' : e.message}`);
    });
    const parsed = parseReleaseFile(text, input.file);
    const file = parsed.release;
    const baseDir = dirname(path);

    // Everything that can be refused cheaply is refused before the conversion.
    const refs: Record<string, string> = {};
    const refIssues = [];
    for (const [name, c] of Object.entries(file.containers)) {
      const r = resolveImageRef(c.image, baseDir, kindOf);
      if ('error' in r)
        refIssues.push({
          ...parsed.locate(['containers', name, 'image']),
          path: `containers.${name}.image`,
          message: r.error,
        });
      else refs[name] = r.ref;
    }
    if (refIssues.length > 0) throw new ReleaseFileError(input.file, refIssues);
    const placeholders = Object.fromEntries(Object.keys(file.containers).map((n) => [n, PLACEHOLDER_IMAGE]));
    checkManifest(
      parsed,
      input.file,
      manifestInput(file, placeholders, file.sequence ?? input.sequence ?? 1),
    );

    const registry = await registryOptions(input, ctx.env, ctx.cwd);
    const config = await ctx.config.require();
    const { key } = await new KeyStore(join(ctx.config.dir, 'keys')).load(input.key ?? config.defaultKey);
    const hub = await ctx.hub();
    const sequence = file.sequence ?? input.sequence ?? (await nextSequence(hub, file.version));

    // Loaded here: the converter is large and only this command needs it (startup of the rest).
    const { importImage } = await import('@fleet/device-agent/oci');
    const work = await mkdtemp(join(tmpdir(), 'hubctl-release-'));
    try {
      const converted: Record<string, ConvertedImage> = {};
      const files = new Map<string, string>();
      for (const [name, c] of Object.entries(file.containers)) {
        ctx.stderr.write(`converting ${name} (${refs[name]})...\n`);
        const img = await importImage(refs[name]!, {
          workDir: work,
          outputDir: join(work, 'objects'),
          platform: c.platform ?? file.platform ?? 'linux/arm64',
          registry,
          signal: ctx.signal,
        });
        converted[name] = {
          image: img.image,
          rootfs: img.rootfs,
          start: img.start,
          ...(img.health ? { health: img.health } : {}),
        };
        files.set(img.rootfs.digest, img.rootfsFile);
        ctx.stderr.write(`converted ${name}: ${img.rootfs.digest} (${bytes(img.rootfs.size)})\n`);
      }
      const manifest = checkManifest(parsed, input.file, manifestInput(file, converted, sequence));
      const signed = signManifest(manifest, key);
      const objects = manifestObjects(signed);
      const upload = await uploadMissing(hub, objects, (d) => files.get(d)!, ctx.progress, ctx.signal);
      const { release, created } = await hub.createRelease(signed);
      const summary = {
        version: release.version,
        sequence: release.sequence,
        id: release.id,
        manifestDigest: release.manifestDigest,
        localDigest: manifestDigest(signed),
        created,
        signedBy: key.keyId,
        objects: {
          total: objects.length,
          uploaded: upload.uploaded.length,
          alreadyOnHub: upload.present.length,
          uploadedBytes: upload.uploadedBytes,
        },
      };
      return {
        data: summary,
        text: fields([
          ['release', `${release.version}${created ? '' : ' (already registered, identical)'}`],
          ['sequence', String(release.sequence)],
          ['digest', release.manifestDigest],
          ['signed by', key.keyId],
          [
            'objects',
            `${objects.length} (${upload.uploaded.length} uploaded, ${bytes(upload.uploadedBytes)}; ${upload.present.length} already on the hub)`,
          ],
        ]),
      };
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  },
});

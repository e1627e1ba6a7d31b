import { resolve } from 'node:path';
import { z } from 'zod';
import { defineCommand } from '../cli/command.js';
import { fields } from '../cli/format.js';
import { FleetRef } from './inputs.js';

export const ImageBuildInput = z
  .object({
    board: z.string({ error: 'is required, e.g. --board qemu-aarch64' }).min(1),
    hub: z.url({ error: 'must be the hub URL devices will use (e.g. http://10.0.2.2:8080)' }).optional(),
    claimToken: z.string().min(16, { error: 'must have at least 16 characters' }).optional(),
    fleet: FleetRef.optional(),
    out: z.string({ error: 'is required: the output directory' }).min(1),
    factory: z.string().min(1).optional(),
    agent: z.string().min(1).default('auto'),
    name: z
      .string()
      .regex(/^[A-Za-z0-9._-]+$/, { error: 'may use letters, digits, ".", "_" and "-"' })
      .optional(),
    release: z.string().min(1).optional(),
    cache: z.string().min(1).optional(),
  })
  .refine((v) => (v.claimToken !== undefined) !== (v.fleet !== undefined), {
    error:
      'give --claim-token <token>, or --fleet <fleet> to create a claim token for the image (one of them)',
    path: ['claimToken'],
  });

export default defineCommand({
  path: ['image', 'build'],
  summary:
    "Build a flashable image for a board (the images package's builder) that claims itself on this hub.",
  options: [
    { flags: '--board <board>', description: 'board name, e.g. qemu-aarch64' },
    { flags: '--hub <url>', description: 'hub URL as the device reaches it (default: the logged-in hub)' },
    { flags: '--claim-token <token>', description: 'claim token baked into the image' },
    { flags: '--fleet <fleet>', description: 'create a single-purpose claim token for this fleet instead' },
    { flags: '--out <dir>', description: 'output directory (.img, .img.bmap, .img.sha256, manifest)' },
    { flags: '--factory <dir>', description: 'factory release directory preloaded into the image' },
    { flags: '--agent <entry>', description: 'auto, none or an agent entry .ts file' },
    { flags: '--name <name>', description: 'image base name (default fleet-<board>)' },
    { flags: '--release <string>', description: 'written to /etc/fleet/release' },
    { flags: '--cache <dir>', description: 'download cache' },
  ],
  json: true,
  input: ImageBuildInput,
  async run(input, ctx) {
    // Loaded here: the image builder is large and only the image commands need it.
    const { loadBoard } = await import('@fleet/board-support');
    const { buildImage, defaultCacheDir } = await import('@fleet/images');
    const board = await loadBoard(input.board);
    let hubUrl = input.hub;
    let claimToken = input.claimToken;
    if (hubUrl === undefined || input.fleet !== undefined) {
      const hub = await ctx.hub();
      hubUrl ??= hub.baseUrl;
      if (input.fleet !== undefined) {
        const t = await hub.createClaimToken(input.fleet, {
          name: `image ${input.name ?? `fleet-${input.board}`} ${new Date().toISOString()}`,
        });
        claimToken = t.token;
        ctx.stderr.write(`created claim token ${t.id} for fleet ${input.fleet}\n`);
      }
    }
    const result = await buildImage({
      board,
      hubUrl,
      claimToken: claimToken!,
      outDir: resolve(ctx.cwd, input.out),
      cacheDir: input.cache ? resolve(ctx.cwd, input.cache) : defaultCacheDir(),
      agent:
        input.agent === 'auto' || input.agent === 'none'
          ? input.agent
          : { entry: resolve(ctx.cwd, input.agent) },
      ...(input.factory ? { factoryDir: resolve(ctx.cwd, input.factory) } : {}),
      ...(input.name ? { name: input.name } : {}),
      ...(input.release ? { release: input.release } : {}),
      signal: ctx.signal,
      log: (m) => ctx.stderr.write(`image: ${m}\n`),
    });
    return {
      data: {
        image: result.image,
        bmap: result.bmap,
        sha256File: result.sha256File,
        manifestPath: result.manifestPath,
        manifest: result.manifest,
      },
      text: fields([
        ['image', result.image],
        ['bmap', result.bmap],
        ['sha256', result.sha256File],
        ['manifest', result.manifestPath],
        ['rootfs', result.manifest.rootfs.digest],
      ]),
    };
  },
});

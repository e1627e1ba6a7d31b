// Request bodies and query strings of the local control API (validated at the edge).
import { ContainerName } from '@fleet/protocol';
import { z } from 'zod';

export const InstallRequest = z.strictObject({
  /** Absolute path of a directory with `release.json` (signed) and `objects/sha256/<hex>`. */
  dir: z.string().startsWith('/', { error: 'must be an absolute path' }),
  strategy: z.enum(['stop-start', 'hand-over']).default('stop-start'),
  bakeSeconds: z.number().int().nonnegative().max(86_400).optional(),
  force: z.boolean().default(false),
  config: z.record(ContainerName, z.record(z.string(), z.string())).default({}),
  configVersion: z.number().int().nonnegative().default(0),
});
export type InstallRequest = z.infer<typeof InstallRequest>;

export const ImportImageRequest = z.strictObject({
  /** `oci:<dir>[:tag]`, `docker-archive:<file>[:name:tag]` or `[docker://]host/repo[:tag|@digest]`. */
  ref: z.string().min(1).max(4096),
  platform: z
    .string()
    .regex(/^linux\/[a-z0-9]+(\/v[0-9]+)?$/, { error: 'must look like linux/arm64 or linux/arm/v7' })
    .optional(),
  plainHttp: z.boolean().default(false),
});
export type ImportImageRequest = z.infer<typeof ImportImageRequest>;

export const LogsQuery = z.strictObject({
  follow: z
    .enum(['0', '1', 'true', 'false'])
    .default('0')
    .transform((v) => v === '1' || v === 'true'),
  tail: z.coerce
    .number()
    .int()
    .min(0)
    .max(16 << 20)
    .default(64 * 1024),
});

export const UpdateQuery = z.strictObject({
  /** Long-poll: answer once more than `since` messages exist (or after ~25 s). */
  since: z.coerce.number().int().min(0).optional(),
});

export const ContainerAction = z.enum(['start', 'stop', 'restart']);

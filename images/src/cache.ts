import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';

/** `.fleet/cache/` at the workspace root (git-ignored), or FLEET_CACHE_DIR. */
export function defaultCacheDir(start = process.cwd()): string {
  if (process.env.FLEET_CACHE_DIR) return resolve(process.env.FLEET_CACHE_DIR);
  let dir = resolve(start);
  for (;;) {
    if (existsSync(join(dir, 'pnpm-workspace.yaml'))) return join(dir, '.fleet', 'cache');
    const parent = dirname(dir);
    if (parent === dir) return join(resolve(start), '.fleet', 'cache');
    dir = parent;
  }
}

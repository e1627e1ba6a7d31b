import { resolve } from 'node:path';

/**
 * Resolve a path the user typed. `pnpm --filter @fleet/images fleet-image ...` runs in the
 * package directory; pnpm keeps the caller's directory in INIT_CWD.
 */
export function userPath(path: string): string {
  return resolve(process.env.INIT_CWD ?? process.cwd(), path);
}

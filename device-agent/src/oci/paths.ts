import { OciError } from './errors.js';

/**
 * Pure path rules for layer entries. Paths inside the image are handled as arrays of
 * components relative to the image root; the empty array is the root itself.
 */

/**
 * Turns a tar entry name into root-relative components. Absolute names and any `..` component
 * are refused outright (no real image needs them, and a lexically "harmless" `a/../b` is a
 * classic way to smuggle a traversal past a checker), as are NUL bytes.
 */
export function entryComponents(raw: string, what = 'entry'): string[] {
  if (raw.includes('\0'))
    throw new OciError('hostile-entry', `${what} ${JSON.stringify(raw)}: NUL byte in path`);
  if (raw.startsWith('/'))
    throw new OciError('hostile-entry', `${what} ${JSON.stringify(raw)}: absolute path`);
  const parts = raw.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..'))
    throw new OciError('hostile-entry', `${what} ${JSON.stringify(raw)}: path traversal ("..")`);
  return parts;
}

export type WhiteoutKind =
  | { kind: 'none' }
  /** `dir/.wh..wh..opq`: hide everything lower layers put in `dir`. */
  | { kind: 'opaque'; dir: string[] }
  /** `dir/.wh.name`: delete `dir/name` from lower layers. */
  | { kind: 'whiteout'; target: string[] }
  /** Other `.wh..wh.*` names (aufs hard-link bookkeeping): metadata, never extracted. */
  | { kind: 'meta' };

export const WHITEOUT_PREFIX = '.wh.';
export const OPAQUE_MARKER = '.wh..wh..opq';

export function classifyWhiteout(components: readonly string[]): WhiteoutKind {
  const base = components[components.length - 1];
  if (base === undefined || !base.startsWith(WHITEOUT_PREFIX)) return { kind: 'none' };
  const dir = components.slice(0, -1);
  if (base === OPAQUE_MARKER) return { kind: 'opaque', dir };
  if (base.startsWith('.wh..wh.')) return { kind: 'meta' };
  const name = base.slice(WHITEOUT_PREFIX.length);
  if (name === '' || name === '.' || name === '..') {
    throw new OciError('hostile-entry', `whiteout ${JSON.stringify(components.join('/'))}: names no file`);
  }
  return { kind: 'whiteout', target: [...dir, name] };
}

/**
 * Where a symlink stored at `linkComponents` points, resolved lexically inside the root, or
 * null when a relative target climbs above the root. Absolute targets are root-relative: the
 * container sees the image root as `/`, so `/etc/x` can never leave it.
 */
export function resolveSymlinkTarget(linkComponents: readonly string[], target: string): string[] | null {
  const start = target.startsWith('/') ? [] : linkComponents.slice(0, -1);
  const out = [...start];
  for (const part of target.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') {
      if (out.length === 0) return null;
      out.pop();
    } else out.push(part);
  }
  return out;
}

/** Refuses a symlink entry whose relative target climbs out of the image root. */
export function checkSymlink(linkComponents: readonly string[], target: string): void {
  if (target === '')
    throw new OciError('hostile-entry', `symlink ${JSON.stringify(linkComponents.join('/'))}: empty target`);
  if (target.includes('\0'))
    throw new OciError(
      'hostile-entry',
      `symlink ${JSON.stringify(linkComponents.join('/'))}: NUL byte in target`,
    );
  if (resolveSymlinkTarget(linkComponents, target) === null) {
    throw new OciError(
      'hostile-entry',
      `symlink ${JSON.stringify(linkComponents.join('/'))} -> ${JSON.stringify(target)}: target resolves outside the image root`,
    );
  }
}

/**
 * One step of following a symlink met while walking a path inside the root (like
 * filepath-securejoin): absolute targets restart at the root, `..` stops at the root. The
 * result never leaves the root, whatever the target says.
 */
export function clampedJoin(base: readonly string[], target: string): string[] {
  const out = target.startsWith('/') ? [] : [...base];
  for (const part of target.split('/')) {
    if (part === '' || part === '.') continue;
    if (part === '..') out.pop();
    else out.push(part);
  }
  return out;
}

export function isUnder(path: readonly string[], dir: readonly string[]): boolean {
  if (path.length < dir.length) return false;
  return dir.every((p, i) => path[i] === p);
}

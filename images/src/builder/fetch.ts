import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { access, mkdir, readdir, rename } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { run } from './exec.js';

/**
 * Inputs come only from the Debian archive (`apt-get download`) and the npm registry
 * (`npm pack`), into a cache so a second build makes no network call.
 */
export interface FetchedDeb {
  name: string;
  version: string;
  arch: string;
  path: string;
  sha256: string;
}

export async function sha256File(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

async function exists(path: string): Promise<boolean> {
  return access(path).then(
    () => true,
    () => false,
  );
}

/** The exact package a metapackage depends on (never glob kernel names: that fetched 42 kernels). */
export async function resolveMetapackage(
  metapackage: string,
  arch: string,
  prefix: string,
  signal?: AbortSignal,
): Promise<string> {
  const { stdout } = await run('apt-cache', ['depends', `${metapackage}:${arch}`], signal ? { signal } : {});
  for (const line of stdout.split('\n')) {
    const m = /^\s*Depends:\s*(\S+)/.exec(line);
    const dep = m?.[1]?.replace(/:.*$/, '');
    if (dep?.startsWith(prefix)) return dep;
  }
  throw new Error(
    `apt-cache depends ${metapackage}:${arch} names no ${prefix}* package (is "dpkg --add-architecture ${arch}" + "apt-get update" done?)`,
  );
}

/** Candidate versions and archive file names, from the local apt lists (one apt-cache call: it is slow). */
async function candidates(
  packages: readonly DebRef[],
  signal?: AbortSignal,
): Promise<Map<string, { version: string; file: string }>> {
  let stdout: string;
  try {
    ({ stdout } = await run(
      'apt-cache',
      ['show', '--no-all-versions', ...packages.map(aptName)],
      signal ? { signal } : {},
    ));
  } catch (error) {
    throw new Error(
      `some of ${packages.map(aptName).join(', ')} are unknown to apt (missing "dpkg --add-architecture", "apt-get update", or an archive component such as non-free-firmware?): ${(error as Error).message}`,
      { cause: error },
    );
  }
  const out = new Map<string, { version: string; file: string }>();
  for (const stanza of stdout.split(/\n\n+/)) {
    const name = /^Package: (.+)$/m.exec(stanza)?.[1];
    const version = /^Version: (.+)$/m.exec(stanza)?.[1];
    const filename = /^Filename: (.+)$/m.exec(stanza)?.[1];
    if (name && version && filename && !out.has(name)) out.set(name, { version, file: basename(filename) });
  }
  for (const p of packages) {
    if (!out.has(p.name)) throw new Error(`apt-cache show gave no Version/Filename for ${aptName(p)}`);
  }
  return out;
}

/** A package to fetch; arch "all" packages are named without an architecture qualifier. */
export interface DebRef {
  name: string;
  arch: string;
}

function aptName(p: DebRef): string {
  return p.arch === 'all' ? p.name : `${p.name}:${p.arch}`;
}

export async function fetchDebs(
  packages: readonly DebRef[],
  cacheDir: string,
  signal?: AbortSignal,
): Promise<FetchedDeb[]> {
  const dir = join(cacheDir, 'debs');
  await mkdir(dir, { recursive: true });
  const out: FetchedDeb[] = [];
  const byName = new Map(packages.map((p) => [p.name, p]));
  const unique = [...byName.values()].sort((a, b) => (a.name < b.name ? -1 : 1));
  const known = await candidates(unique, signal);
  for (const { name, arch } of unique) {
    const { version, file } = known.get(name) ?? { version: '', file: '' };
    const path = join(dir, file);
    if (!(await exists(path))) {
      // Download in a private dir then move, so an interrupted download never looks cached.
      const tmp = join(dir, `.tmp-${process.pid}-${name}`);
      await mkdir(tmp, { recursive: true });
      await run('apt-get', ['download', `${aptName({ name, arch })}=${version}`], {
        cwd: tmp,
        ...(signal ? { signal } : {}),
      });
      const got = (await readdir(tmp)).find((f) => f.endsWith('.deb'));
      if (!got) throw new Error(`apt-get download ${aptName({ name, arch })}=${version} produced no .deb`);
      await rename(join(tmp, got), path);
      await run('rm', ['-rf', tmp]);
    }
    out.push({ name, version, arch, path, sha256: await sha256File(path) });
  }
  return out;
}

export interface FetchedNpm {
  spec: string;
  path: string;
  sha256: string;
}

/** `npm pack <name>@<exact version>` into the cache (the tarball name is deterministic). */
export async function fetchNpmPackage(
  name: string,
  version: string,
  cacheDir: string,
  signal?: AbortSignal,
): Promise<FetchedNpm> {
  const dir = join(cacheDir, 'npm');
  await mkdir(dir, { recursive: true });
  const path = join(dir, `${name.replace(/^@/, '').replace('/', '-')}-${version}.tgz`);
  if (!(await exists(path))) {
    const tmp = join(dir, `.tmp-${process.pid}`);
    await mkdir(tmp, { recursive: true });
    await run('npm', ['pack', `${name}@${version}`, '--silent', '--pack-destination', tmp], {
      cwd: tmp,
      ...(signal ? { signal } : {}),
    });
    await rename(join(tmp, basename(path)), path);
    await run('rm', ['-rf', tmp]);
  }
  return { spec: `${name}@${version}`, path, sha256: await sha256File(path) };
}

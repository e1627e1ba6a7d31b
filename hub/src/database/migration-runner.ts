import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';

/** The committed migrations: hub/prisma/migrations, from src/ and from dist/ alike. */
export const MIGRATIONS_DIR = fileURLToPath(new URL('../../prisma/migrations', import.meta.url));

/** Any fixed 64-bit number: every hub replica takes this advisory lock before migrating. */
const MIGRATION_LOCK_KEY = 0x666c656574_01n;

export interface Migration {
  name: string;
  sql: string;
  checksum: string;
}

export interface MigrationResult {
  applied: string[];
  alreadyApplied: string[];
}

/** Reads `<dir>/<name>/migration.sql` in name order (names start with a sortable timestamp). */
export async function readMigrations(dir: string = MIGRATIONS_DIR): Promise<Migration[]> {
  const entries = await readdir(dir, { withFileTypes: true });
  const names = entries
    .filter((e) => e.isDirectory())
    .map((e) => e.name)
    .sort();
  const out: Migration[] = [];
  for (const name of names) {
    if (!/^\d{14}_[a-z0-9_]+$/.test(name))
      throw new Error(`migration directory "${name}" must be named <14-digit timestamp>_<snake_case>`);
    const sql = await readFile(join(dir, name, 'migration.sql'), 'utf8');
    out.push({ name, sql, checksum: createHash('sha256').update(sql).digest('hex') });
  }
  return out;
}

/**
 * Applies every migration not yet recorded in `_fleet_migrations`, each in its own transaction,
 * in name order. Several replicas may call this at once: a session advisory lock serialises
 * them, and the later ones find everything applied. A recorded migration whose file changed
 * since is refused (the database would no longer match the committed history).
 */
export async function runMigrations(
  databaseUrl: string,
  options: { dir?: string; log?: (line: string) => void } = {},
): Promise<MigrationResult> {
  const migrations = await readMigrations(options.dir);
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK_KEY.toString()]);
    try {
      await client.query(`CREATE TABLE IF NOT EXISTS _fleet_migrations (
        name text PRIMARY KEY,
        checksum text NOT NULL,
        applied_at timestamptz NOT NULL DEFAULT now()
      )`);
      const { rows } = await client.query<{ name: string; checksum: string }>(
        'SELECT name, checksum FROM _fleet_migrations',
      );
      const recorded = new Map(rows.map((r) => [r.name, r.checksum]));
      const known = new Set(migrations.map((m) => m.name));
      for (const name of recorded.keys()) {
        if (!known.has(name))
          throw new Error(
            `database has migration "${name}" that this hub does not know: is an older hub running against a newer database?`,
          );
      }
      const result: MigrationResult = { applied: [], alreadyApplied: [] };
      for (const m of migrations) {
        const sum = recorded.get(m.name);
        if (sum !== undefined) {
          if (sum !== m.checksum)
            throw new Error(
              `migration "${m.name}" was changed after it was applied (checksum ${sum.slice(0, 12)} in the database, ${m.checksum.slice(0, 12)} on disk)`,
            );
          result.alreadyApplied.push(m.name);
          continue;
        }
        await client.query('BEGIN');
        try {
          await client.query(m.sql);
          await client.query('INSERT INTO _fleet_migrations (name, checksum) VALUES ($1, $2)', [
            m.name,
            m.checksum,
          ]);
          await client.query('COMMIT');
        } catch (error) {
          await client.query('ROLLBACK');
          throw new Error(`migration "${m.name}" failed and was rolled back: ${(error as Error).message}`, {
            cause: error,
          });
        }
        options.log?.(`applied migration ${m.name}`);
        result.applied.push(m.name);
      }
      return result;
    } finally {
      await client
        .query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK_KEY.toString()])
        .catch(() => undefined);
    }
  } finally {
    await client.end();
  }
}

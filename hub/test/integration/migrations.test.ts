import { execFile } from 'node:child_process';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MIGRATIONS_DIR, readMigrations, runMigrations } from '../../src/database/migration-runner.js';
import { createTestDatabase, type TestDatabase } from './support/hub-harness.js';

const run = promisify(execFile);
const HUB = fileURLToPath(new URL('../../', import.meta.url));

async function query<T extends pg.QueryResultRow>(url: string, sql: string): Promise<T[]> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query<T>(sql)).rows;
  } finally {
    await c.end();
  }
}

/** Everything about a schema that matters to Prisma, in a comparable form. */
async function catalog(url: string): Promise<Record<string, string[]>> {
  const rows = (sql: string) => query<{ x: string }>(url, sql).then((r) => r.map((x) => x.x).sort());
  return {
    columns:
      await rows(`SELECT table_name || '.' || column_name || ' ' || data_type || ' ' || udt_name || ' ' || coalesce(datetime_precision::text, '') || ' ' || is_nullable || ' ' || coalesce(column_default, '') AS x
      FROM information_schema.columns WHERE table_schema = 'public' AND table_name <> '_fleet_migrations'`),
    indexes: await rows(
      `SELECT indexdef AS x FROM pg_indexes WHERE schemaname = 'public' AND tablename <> '_fleet_migrations'`,
    ),
    constraints:
      await rows(`SELECT conrelid::regclass::text || ' ' || conname || ' ' || pg_get_constraintdef(oid) AS x FROM pg_constraint
      WHERE connamespace = 'public'::regnamespace AND conrelid::regclass::text <> '_fleet_migrations'`),
    enums: await rows(
      `SELECT t.typname || ' ' || string_agg(e.enumlabel, ',' ORDER BY e.enumsortorder) AS x FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid GROUP BY t.typname`,
    ),
    extensions: await rows(`SELECT extname AS x FROM pg_extension`),
  };
}

const dbs: TestDatabase[] = [];
async function freshDb(): Promise<TestDatabase> {
  const db = await createTestDatabase('hub_mig');
  dbs.push(db);
  return db;
}
let scratch: string;
beforeAll(async () => {
  scratch = await mkdtemp(join(tmpdir(), 'fleet-migrations-'));
});
afterAll(async () => {
  for (const db of dbs) await db.drop();
  await rm(scratch, { recursive: true, force: true });
});

describe('migration runner', () => {
  it('applies every committed migration once, records it, and is a no-op the second time', async () => {
    const db = await freshDb();
    const names = (await readMigrations()).map((m) => m.name);
    expect(names.length).toBeGreaterThan(0);
    expect(await runMigrations(db.url)).toEqual({ applied: names, alreadyApplied: [] });
    expect(await runMigrations(db.url)).toEqual({ applied: [], alreadyApplied: names });
    const recorded = await query<{ name: string }>(
      db.url,
      'SELECT name FROM _fleet_migrations ORDER BY name',
    );
    expect(recorded.map((r) => r.name)).toEqual(names);
  });

  it('lets two replicas start together: the advisory lock makes one apply and the other find it done', async () => {
    const db = await freshDb();
    const [a, b] = await Promise.all([runMigrations(db.url), runMigrations(db.url)]);
    expect([a.applied.length, b.applied.length].sort()).toEqual([0, (await readMigrations()).length]);
  });

  it('rolls back a failing migration entirely and records nothing for it', async () => {
    const db = await freshDb();
    const dir = join(scratch, 'failing');
    await cp(MIGRATIONS_DIR, dir, { recursive: true });
    await cp(join(dir, (await readMigrations())[0]!.name), join(dir, '29991231000000_broken'), {
      recursive: true,
    });
    await writeFile(
      join(dir, '29991231000000_broken', 'migration.sql'),
      'CREATE TABLE half_done (id int); SELECT no_such_function();',
    );
    await expect(runMigrations(db.url, { dir })).rejects.toThrow(
      /migration "29991231000000_broken" failed and was rolled back/,
    );
    expect(
      await query(db.url, "SELECT 1 FROM information_schema.tables WHERE table_name = 'half_done'"),
    ).toEqual([]);
    expect(
      await query(db.url, "SELECT 1 FROM _fleet_migrations WHERE name = '29991231000000_broken'"),
    ).toEqual([]);
  });

  it('refuses a migration edited after it was applied, and a database ahead of the code', async () => {
    const db = await freshDb();
    await runMigrations(db.url);
    const dir = join(scratch, 'edited');
    await cp(MIGRATIONS_DIR, dir, { recursive: true });
    const first = (await readMigrations())[0]!.name;
    await writeFile(join(dir, first, 'migration.sql'), '-- edited\nSELECT 1;');
    await expect(runMigrations(db.url, { dir })).rejects.toThrow(/was changed after it was applied/);
    const empty = join(scratch, 'empty');
    await cp(MIGRATIONS_DIR, empty, { recursive: true, filter: (src) => !src.includes(first) });
    await expect(runMigrations(db.url, { dir: empty })).rejects.toThrow(/does not know/);
  });
});

describe('schema drift', () => {
  it('the migrated database equals what Prisma generates from schema.prisma', async () => {
    const migrated = await freshDb();
    await runMigrations(migrated.url);
    // Prisma's own schema engine (Wasm build) renders schema.prisma as SQL from scratch...
    const fromSchema = await freshDb();
    const { stdout } = await run(
      process.execPath,
      [
        '--experimental-wasm-modules',
        'src/database/migration-diff.mjs',
        '--url',
        fromSchema.url,
        '--from',
        'empty',
        '--to',
        'prisma/schema.prisma',
      ],
      { cwd: HUB, maxBuffer: 16 * 1024 * 1024 },
    );
    expect(stdout).toContain('CREATE TABLE "devices"');
    // ...plus the extension that the trigram indexes need, which Prisma leaves to us, and the
    // facts Prisma cannot express (NOT NULL on a list column), written by hand in migrations.
    const handWritten = await readFile(join(HUB, 'prisma', 'hand-written.sql'), 'utf8');
    await query(fromSchema.url, `CREATE EXTENSION IF NOT EXISTS pg_trgm;\n${stdout}\n${handWritten}`);
    const [a, b] = [await catalog(migrated.url), await catalog(fromSchema.url)];
    expect(a.columns?.length).toBeGreaterThan(50);
    expect(a).toEqual(b);
  });
});

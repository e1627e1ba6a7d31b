// Prints the SQL that turns one schema into another, computed by Prisma's schema engine
// (the Wasm build: the native engine cannot be downloaded here; see
// docs/decisions/0030-prisma-migrations.md). Needs `node --experimental-wasm-modules` and a
// reachable Postgres (the engine connects even for schema-to-schema diffs).
//
//   --url <postgres url>      database the engine connects through (required)
//   --from empty|<old schema.prisma path>
//   --to   <schema.prisma path>
//
// SQL on stdout (empty when equal). New migration: copy the committed schema.prisma of the
// last migration aside, edit schema.prisma, diff old → new into a new migration directory.
// Diffing against a live database is not possible with this engine build: describing a
// Postgres schema through the adapter fails on pg_catalog's "char" columns. The drift test
// therefore compares catalogs (see test/integration/schema-drift.test.ts).
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { PrismaPg } from '@prisma/adapter-pg';
import { bindMigrationAwareSqlAdapterFactory } from '@prisma/driver-adapter-utils';
import { SchemaEngine } from '@prisma/schema-engine-wasm';

const { values } = parseArgs({
  options: { url: { type: 'string' }, from: { type: 'string' }, to: { type: 'string' } },
});
if (!values.url || !values.from || !values.to) {
  console.error('usage: migration-diff.mjs --url <postgres url> --from empty|<schema> --to <schema>');
  process.exit(64);
}

function target(spec) {
  if (spec === 'empty') return { tag: 'empty' };
  return { tag: 'schemaDatamodel', files: [{ path: spec, content: readFileSync(spec, 'utf8') }] };
}

const adapter = bindMigrationAwareSqlAdapterFactory(new PrismaPg({ connectionString: values.url }));
const engine = await SchemaEngine.new({ datamodels: undefined }, () => {}, adapter);
const result = await engine.diff({
  from: target(values.from),
  to: target(values.to),
  script: true,
  exitCode: null,
  filters: { externalTables: ['public._fleet_migrations'], externalEnums: [] },
});
const out = (result.stdout ?? '').trim();
// The engine writes a comment when there is nothing to do; normalise to an empty output.
process.stdout.write(/^-- This is an empty migration\.?$/.test(out) ? '' : out + (out ? '\n' : ''));

import { defineConfig } from 'prisma/config';

// `process.env.DATABASE_URL ?? ''` rather than env(): `prisma generate` must work with no database
// configured (see docs/decisions/0030-prisma-migrations.md). Migrations are applied by our own
// runner (src/database/migration-runner.ts), never by `prisma migrate`.
export default defineConfig({
  schema: 'prisma/schema.prisma',
  migrations: { path: 'prisma/migrations' },
  datasource: { url: process.env.DATABASE_URL ?? '' },
});

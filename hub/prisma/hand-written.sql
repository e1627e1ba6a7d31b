-- Schema facts schema.prisma cannot express, written by hand into the migrations. The drift
-- test (test/integration/migrations.test.ts) applies this file after the SQL Prisma generates
-- from schema.prisma, so both sides must agree. Keep each statement idempotent.
-- (CREATE EXTENSION pg_trgm, which the trigram indexes need, is applied before Prisma's SQL by
-- the test itself.)

-- 20261130153000_device_state_order: the list is never NULL (empty when nothing failed).
ALTER TABLE "devices" ALTER COLUMN "failed_revisions" SET NOT NULL;

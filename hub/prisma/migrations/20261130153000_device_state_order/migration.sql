-- Devices that never reported a failed revision had NULL here (provisioning left the column
-- unset): they are backfilled with the empty list, and the column can no longer be NULL.
-- Prisma cannot express NOT NULL on a list column, so that line is hand-written (it is also in
-- prisma/hand-written.sql, which the drift test applies on top of Prisma's own SQL).
UPDATE "devices" SET "failed_revisions" = ARRAY[]::TEXT[] WHERE "failed_revisions" IS NULL;

-- AlterTable
ALTER TABLE "devices" ADD COLUMN     "presence_at" TIMESTAMPTZ(3),
ADD COLUMN     "report_sent_at" TIMESTAMPTZ(3),
ALTER COLUMN "failed_revisions" SET DEFAULT ARRAY[]::TEXT[];

-- Hand-written (see above).
ALTER TABLE "devices" ALTER COLUMN "failed_revisions" SET NOT NULL;

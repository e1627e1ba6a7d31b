-- CreateTable
CREATE TABLE "rollouts" (
    "id" UUID NOT NULL,
    "name" TEXT,
    "release_id" UUID NOT NULL,
    "fleet_id" UUID NOT NULL,
    "tags" TEXT[],
    "device_ids" TEXT[],
    "phases" JSONB NOT NULL,
    "max_failure_percent" DOUBLE PRECISION NOT NULL,
    "min_success_percent" DOUBLE PRECISION NOT NULL,
    "device_timeout_seconds" INTEGER NOT NULL,
    "max_parallel" INTEGER NOT NULL,
    "device_bake_seconds" INTEGER NOT NULL,
    "force" BOOLEAN NOT NULL DEFAULT false,
    "state" TEXT NOT NULL,
    "state_reason" TEXT,
    "current_phase" INTEGER NOT NULL DEFAULT 0,
    "bake_started_at" TIMESTAMPTZ(3),
    "acknowledged_failures" INTEGER NOT NULL DEFAULT 0,
    "created_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "created_by" TEXT NOT NULL,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "finished_at" TIMESTAMPTZ(3),

    CONSTRAINT "rollouts_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "rollout_devices" (
    "rollout_id" UUID NOT NULL,
    "device_id" UUID NOT NULL,
    "phase" INTEGER NOT NULL,
    "state" TEXT NOT NULL,
    "update_id" TEXT NOT NULL,
    "reason" TEXT,
    "previous_release_id" UUID,
    "dispatched_at" TIMESTAMPTZ(3),
    "last_progress_at" TIMESTAMPTZ(3),
    "last_event_id" BIGINT NOT NULL DEFAULT 0,
    "finished_at" TIMESTAMPTZ(3),
    "dispatch_count" INTEGER NOT NULL DEFAULT 0,
    "rollback_update_id" TEXT,
    "rollback_at" TIMESTAMPTZ(3),
    "joined_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "rollout_devices_pkey" PRIMARY KEY ("rollout_id","device_id")
);

-- CreateTable
CREATE TABLE "device_targets" (
    "device_id" UUID NOT NULL,
    "release_id" UUID NOT NULL,
    "update_id" TEXT NOT NULL,
    "rollout_id" UUID,
    "config_version" INTEGER NOT NULL,
    "force" BOOLEAN NOT NULL DEFAULT false,
    "bake_seconds" INTEGER NOT NULL,
    "published_at" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "device_targets_pkey" PRIMARY KEY ("device_id")
);

-- CreateTable
CREATE TABLE "config_variables" (
    "scope_type" TEXT NOT NULL,
    "scope_id" UUID NOT NULL,
    "container" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "value" TEXT NOT NULL,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updated_by" TEXT NOT NULL,

    CONSTRAINT "config_variables_pkey" PRIMARY KEY ("scope_type","scope_id","container","name")
);

-- CreateTable
CREATE TABLE "config_scopes" (
    "scope_type" TEXT NOT NULL,
    "scope_id" UUID NOT NULL,
    "version" INTEGER NOT NULL DEFAULT 0,
    "window" JSONB,
    "updated_at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "config_scopes_pkey" PRIMARY KEY ("scope_type","scope_id")
);

-- CreateIndex
CREATE UNIQUE INDEX "rollouts_name_key" ON "rollouts"("name");

-- CreateIndex
CREATE INDEX "rollouts_state_idx" ON "rollouts"("state");

-- CreateIndex
CREATE INDEX "rollouts_fleet_id_created_at_idx" ON "rollouts"("fleet_id", "created_at" DESC);

-- CreateIndex
CREATE UNIQUE INDEX "rollout_devices_update_id_key" ON "rollout_devices"("update_id");

-- CreateIndex
CREATE UNIQUE INDEX "rollout_devices_rollback_update_id_key" ON "rollout_devices"("rollback_update_id");

-- CreateIndex
CREATE INDEX "rollout_devices_rollout_id_state_phase_idx" ON "rollout_devices"("rollout_id", "state", "phase");

-- CreateIndex
CREATE INDEX "rollout_devices_device_id_idx" ON "rollout_devices"("device_id");

-- CreateIndex
CREATE INDEX "device_targets_release_id_idx" ON "device_targets"("release_id");

import { z } from 'zod';

// Persisted and wire literals are API (CONVENTIONS 7): never rename one; add a new one and map
// the old.

/** States of the agent's update state machine, as persisted in its journal and reported. */
export const UpdateState = z.enum([
  'idle',
  'downloading',
  'verifying',
  /** Everything is downloaded and verified; waiting for a maintenance window or an app's update lock. */
  'waiting',
  'installing',
  'rebooting',
  'testing',
  'committing',
  'rolling-back',
  'rollback-rebooting',
]);
export type UpdateState = z.infer<typeof UpdateState>;

/** What the hub is told about an update; the rollout engine drives device states from it. */
export const ReportedStatus = z.enum([
  'downloading',
  'downloaded',
  'deferred',
  'installing',
  'rebooting',
  'testing',
  'succeeded',
  'failed',
  'rolled-back',
]);
export type ReportedStatus = z.infer<typeof ReportedStatus>;

/** Why an update failed, was refused or was rolled back. */
export const ReasonCode = z.enum([
  'manifest-invalid',
  'signature-invalid',
  'unknown-signing-key',
  'sequence-not-newer',
  'board-mismatch',
  'agent-too-old',
  'revision-failed-before',
  'insufficient-space',
  'download-failed',
  'digest-mismatch',
  'object-missing',
  'install-failed',
  'container-start-failed',
  'status-goal-timeout',
  'health-check-failed',
  'crash-loop',
  'hub-unreachable',
  'slot-write-failed',
  'boot-failed',
  'cancelled',
  'superseded',
  'rollback-requested',
  'journal-corrupt',
  'internal-error',
]);
export type ReasonCode = z.infer<typeof ReasonCode>;

export const ContainerState = z.enum([
  'created',
  'starting',
  'running',
  /** Running and its health check passes (status goal "ready"). */
  'ready',
  'unhealthy',
  'stopping',
  'stopped',
  'exited',
  /** Restarted more than its policy allows within the window; no longer restarted. */
  'crash-loop',
  'frozen',
]);
export type ContainerState = z.infer<typeof ContainerState>;

/**
 * The internal update state a status is reported from. Terminal outcomes (succeeded, failed,
 * rolled-back) are reported from `idle` with the outcome, so they are not in this map.
 */
export const REPORTED_STATUS_OF: Record<UpdateState, ReportedStatus | null> = {
  idle: null,
  downloading: 'downloading',
  verifying: 'downloading',
  waiting: 'deferred',
  installing: 'installing',
  rebooting: 'rebooting',
  testing: 'testing',
  committing: 'testing',
  'rolling-back': 'installing',
  'rollback-rebooting': 'rebooting',
};

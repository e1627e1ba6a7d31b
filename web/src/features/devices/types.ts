import type { ContainerState, ReasonCode, ReportedStatus, UpdateState } from '@fleet/protocol/browser';
import { z } from 'zod';

// What the dashboard adds to the devices API (whose shapes are in @fleet/protocol/browser):
// input rules for forms, labels and tones.

/** Same rule as the hub's `Tag`: `key` or `key=value`. */
export const Tag = z
  .string()
  .max(200)
  .regex(/^[a-z0-9][a-z0-9_.-]{0,62}(=[^\s,]{0,128})?$/, {
    error: 'a tag is "key" or "key=value" (key: lower-case letters, digits, _ . -)',
  });

// Labels for protocol's enums. `satisfies Record<…>` makes a new protocol literal a type error
// here until it gets a label.
export const REASON_LABELS = {
  'manifest-invalid': 'Manifest invalid',
  'signature-invalid': 'Signature invalid',
  'unknown-signing-key': 'Unknown signing key',
  'sequence-not-newer': 'Sequence not newer',
  'board-mismatch': 'Board mismatch',
  'agent-too-old': 'Agent too old',
  'revision-failed-before': 'Failed on this device before',
  'insufficient-space': 'Insufficient space',
  'download-failed': 'Download failed',
  'digest-mismatch': 'Digest mismatch',
  'object-missing': 'Object missing',
  'install-failed': 'Install failed',
  'container-start-failed': 'Container failed to start',
  'status-goal-timeout': 'Status goal timed out',
  'health-check-failed': 'Health check failed',
  'crash-loop': 'Crash loop',
  'hub-unreachable': 'Hub unreachable',
  'slot-write-failed': 'Slot write failed',
  'boot-failed': 'Boot failed',
  cancelled: 'Cancelled',
  superseded: 'Superseded',
  'rollback-requested': 'Rollback requested',
  'journal-corrupt': 'Journal corrupt',
  'internal-error': 'Internal error',
} as const satisfies Record<ReasonCode, string>;

export function reasonLabel(reason: string | null | undefined): string {
  if (!reason) return 'Unknown reason';
  return (REASON_LABELS as Record<string, string>)[reason] ?? reason;
}

type Tone = 'ok' | 'warn' | 'bad' | 'info' | 'muted';

export const CONTAINER_STATE_TONES = {
  created: 'muted',
  starting: 'info',
  running: 'ok',
  ready: 'ok',
  unhealthy: 'bad',
  stopping: 'info',
  stopped: 'muted',
  exited: 'warn',
  'crash-loop': 'bad',
  frozen: 'warn',
} as const satisfies Record<ContainerState, Tone>;

export function containerTone(state: string): Tone {
  return (CONTAINER_STATE_TONES as Record<string, Tone>)[state] ?? 'muted';
}

export const REPORTED_STATUS_TONES = {
  downloading: 'info',
  downloaded: 'info',
  deferred: 'muted',
  installing: 'info',
  rebooting: 'info',
  testing: 'info',
  succeeded: 'ok',
  failed: 'bad',
  'rolled-back': 'warn',
} as const satisfies Record<ReportedStatus, Tone>;

export function statusTone(status: string | null): Tone {
  return status ? ((REPORTED_STATUS_TONES as Record<string, Tone>)[status] ?? 'muted') : 'muted';
}

/** Agent states in which an update is in flight (idle is not). */
export const BUSY_UPDATE_STATES = [
  'downloading',
  'verifying',
  'waiting',
  'installing',
  'rebooting',
  'testing',
  'committing',
  'rolling-back',
  'rollback-rebooting',
] as const satisfies readonly UpdateState[];

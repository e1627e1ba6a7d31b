import {
  checkSequence,
  manifestDigest,
  manifestObjects,
  type Digest,
  type MessageBodyInput,
  type ReasonCode,
  type RevisionRef,
  type Target,
} from '@fleet/protocol';
import type { Rng } from './rng.js';

/** How a simulated device behaves when it receives a target. Rates are probabilities 0..1. */
export interface UpdateBehaviour {
  /** The update fails its health gate and rolls back. */
  failureRate: number;
  /** The device goes silent mid-download (the hub must time it out). */
  timeoutRate: number;
  /** Simulated download speed, bytes per second. */
  downloadBytesPerSecond: number;
  /** Milliseconds spent installing and in the health gate (scaled by the target's bake time). */
  installMs: number;
  testMs: number;
  /** Progress messages while downloading. */
  downloadSteps: number;
}

export const DEFAULT_BEHAVIOUR: UpdateBehaviour = {
  failureRate: 0,
  timeoutRate: 0,
  downloadBytesPerSecond: 4 * 1024 * 1024,
  installMs: 500,
  testMs: 1000,
  downloadSteps: 4,
};

export interface DeviceUpdateView {
  revision: RevisionRef | null;
  /** Revisions committed here before and still stored, by digest. */
  committed: ReadonlyMap<Digest, RevisionRef>;
  objects: ReadonlySet<Digest>;
  failedRevisions: ReadonlySet<Digest>;
  board: string;
}

export type ProgressBody = MessageBodyInput<'progress'>;

export interface UpdatePlan {
  /** Progress messages, each after a delay (ms) from the previous one. */
  steps: { afterMs: number; progress: ProgressBody }[];
  outcome: 'succeeded' | 'rolled-back' | 'refused' | 'silent' | 'already-current';
  revision: RevisionRef;
  /** Objects the device downloads (missing ones), and their total size. */
  download: { digests: Digest[]; bytes: number };
  reason?: ReasonCode;
}

/**
 * Plans what a device does with a target, as data: the same messages, in the same order, a
 * real agent would send (protocol's update states and reported statuses). Pure: all chance
 * comes from `rng`, all time is relative.
 */
export function planUpdate(
  device: DeviceUpdateView,
  target: Target,
  behaviour: UpdateBehaviour,
  rng: Rng,
): UpdatePlan {
  const digest = manifestDigest(target.release);
  const revision: RevisionRef = {
    digest,
    version: target.release.version,
    sequence: target.release.sequence,
  };
  const base = { updateId: target.updateId, revision };
  const missing = manifestObjects(target.release).filter((o) => !device.objects.has(o.digest));
  const bytes = missing.reduce((n, o) => n + o.size, 0);
  const download = { digests: missing.map((o) => o.digest), bytes };
  const refuse = (reason: ReasonCode, message: string): UpdatePlan => ({
    steps: [
      { afterMs: 0, progress: { ...base, state: 'idle', status: 'failed', percent: 0, reason, message } },
    ],
    outcome: 'refused',
    revision,
    download: { digests: [], bytes: 0 },
    reason,
  });

  if (device.revision?.digest === digest)
    return { steps: [], outcome: 'already-current', revision, download: { digests: [], bytes: 0 } };
  if (!target.release.compatibleBoards.includes(device.board)) {
    return refuse(
      'board-mismatch',
      `release is for ${target.release.compatibleBoards.join(', ')}, this is ${device.board}`,
    );
  }
  if (device.failedRevisions.has(digest) && !target.force) {
    return refuse('revision-failed-before', 'this revision failed here before; deploy with force to retry');
  }
  // The agent's anti-rollback rule, from protocol: strictly newer, or a revision this device
  // committed before and still stores (an operator's rollback).
  const seq = checkSequence({
    committed: device.revision?.sequence ?? null,
    candidate: target.release.sequence,
    storedCommitted: [...device.committed.values()].map((r) => r.sequence),
  });
  if (!seq.ok) return refuse(seq.error.reason, seq.error.message);

  const steps: UpdatePlan['steps'] = [];
  const downloadMs = (bytes / behaviour.downloadBytesPerSecond) * 1000;
  const n = Math.max(1, behaviour.downloadSteps);
  steps.push({
    afterMs: 0,
    progress: {
      ...base,
      state: 'downloading',
      status: 'downloading',
      percent: 0,
      bytesDone: 0,
      bytesTotal: bytes,
    },
  });
  const silentAt = rng() < behaviour.timeoutRate ? Math.floor(rng() * n) : -1;
  for (let i = 1; i <= n; i++) {
    if (i - 1 === silentAt) return { steps, outcome: 'silent', revision, download };
    const done = Math.round((bytes * i) / n);
    steps.push({
      afterMs: downloadMs / n,
      progress: {
        ...base,
        state: 'downloading',
        status: 'downloading',
        percent: (100 * i) / n,
        bytesDone: done,
        bytesTotal: bytes,
      },
    });
  }
  steps.push({
    afterMs: 0,
    progress: {
      ...base,
      state: 'verifying',
      status: 'downloaded',
      percent: 100,
      bytesDone: bytes,
      bytesTotal: bytes,
    },
  });
  steps.push({ afterMs: 0, progress: { ...base, state: 'installing', status: 'installing', percent: 100 } });
  steps.push({
    afterMs: behaviour.installMs,
    progress: { ...base, state: 'testing', status: 'testing', percent: 100 },
  });
  if (rng() < behaviour.failureRate) {
    steps.push({
      afterMs: behaviour.testMs / 2,
      progress: {
        ...base,
        state: 'rolling-back',
        status: 'installing',
        percent: 100,
        reason: 'health-check-failed',
        message: 'simulated health check failure',
      },
    });
    steps.push({
      afterMs: behaviour.installMs / 2,
      progress: {
        ...base,
        state: 'idle',
        status: 'rolled-back',
        percent: 100,
        reason: 'health-check-failed',
        message: 'simulated health check failure',
      },
    });
    return { steps, outcome: 'rolled-back', revision, download, reason: 'health-check-failed' };
  }
  steps.push({
    afterMs: behaviour.testMs,
    progress: { ...base, state: 'committing', status: 'testing', percent: 100 },
  });
  steps.push({ afterMs: 0, progress: { ...base, state: 'idle', status: 'succeeded', percent: 100 } });
  return { steps, outcome: 'succeeded', revision, download };
}

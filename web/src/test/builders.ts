import type { Device, DeviceDetail } from '../features/devices/types.js';
import type { Release } from '../features/releases/api/types.js';
import type { DryRun, Rollout } from '../features/rollouts/api/types.js';

// Canned answers shaped like the hub's JSON (dates as ISO strings), with overridable defaults.

let n = 0;
export function uuid(i = ++n): string {
  return `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`;
}

export const FLEET_ID = uuid(900001);

export function aDevice(over: Partial<Device> = {}): Device {
  const id = over.id ?? uuid();
  return {
    id,
    fleetId: FLEET_ID,
    name: `dev-${id.slice(-4)}`,
    hardwareId: `hw-${id.slice(-6)}`,
    board: 'qemu-aarch64',
    agentVersion: '1.2.0',
    tags: [],
    online: true,
    lastSeenAt: '2026-11-30T12:00:00.000Z',
    currentRelease: '1.0.0',
    currentRevisionDigest: `sha256:${'a'.repeat(64)}`,
    currentSequence: 1,
    updateState: 'idle',
    updateStatus: null,
    updateReason: null,
    failedRevisions: [],
    createdAt: '2026-11-01T00:00:00.000Z',
    decommissionedAt: null,
    ...over,
  };
}

export function aDeviceDetail(over: Partial<DeviceDetail> = {}): DeviceDetail {
  return {
    ...aDevice(over),
    publicKey: 'MCowBQYDK2VwAyEA',
    bootId: 'boot-1',
    credentialsRotatedAt: '2026-11-01T00:00:00.000Z',
    inventory: {},
    containers: [
      {
        name: 'web',
        state: 'running',
        restartCount: 2,
        exitCode: null,
        startedAt: '2026-11-30T11:00:00.000Z',
        message: null,
        updatedAt: '2026-11-30T11:00:00.000Z',
      },
      {
        name: 'db',
        state: 'crash-loop',
        restartCount: 7,
        exitCode: 137,
        startedAt: null,
        message: 'OOM killed',
        updatedAt: '2026-11-30T11:00:00.000Z',
      },
    ],
    ...over,
  };
}

export function me(role: 'admin' | 'operator' | 'viewer' = 'operator') {
  return { kind: 'user', userId: uuid(800000 + role.length), email: `${role}@example.com`, role, scopes: [] };
}

export function aFleet(over: Record<string, unknown> = {}) {
  return {
    id: FLEET_ID,
    name: 'lab',
    description: 'the lab',
    createdAt: '2026-11-01T00:00:00.000Z',
    deviceCount: 3,
    ...over,
  };
}

export function aRelease(over: Partial<Release> = {}): Release {
  const rootfs = `sha256:${'b'.repeat(64)}`;
  return {
    id: uuid(),
    version: '1.1.0',
    sequence: 2,
    manifestDigest: `sha256:${'c'.repeat(64)}`,
    board: 'qemu-aarch64',
    compatibleBoards: ['qemu-aarch64', 'raspberrypi4-64'],
    notes: 'faster boot',
    createdAt: '2026-11-29T00:00:00.000Z',
    createdBy: 'user:ops',
    yankedAt: null,
    yankReason: null,
    manifest: {
      containers: {
        web: {
          image: { ref: 'registry.local/web:1.1', digest: `sha256:${'d'.repeat(64)}` },
          rootfs: { digest: rootfs, size: 5_242_880 },
          group: 'app',
        },
      },
      signatures: [{ keyId: '0123456789abcdef', alg: 'ed25519' }],
      minAgentVersion: '1.0.0',
    },
    objects: [{ digest: rootfs, size: 5_242_880, role: 'rootfs:web' }],
    signedBy: ['0123456789abcdef'],
    ...over,
  };
}

const zero = {
  pending: 0,
  dispatched: 0,
  downloading: 0,
  installing: 0,
  testing: 0,
  succeeded: 0,
  failed: 0,
  'rolled-back': 0,
  'timed-out': 0,
};

export function aRollout(over: Partial<Rollout> = {}): Rollout {
  return {
    id: uuid(700001),
    releaseVersion: '1.1.0',
    fleetId: FLEET_ID,
    state: 'running',
    phases: [
      {
        index: 0,
        count: 1,
        percent: null,
        bakeSeconds: 600,
        state: 'done',
        deviceCount: 1,
        counts: { ...zero, succeeded: 1 },
      },
      {
        index: 1,
        count: null,
        percent: 100,
        bakeSeconds: 600,
        state: 'running',
        deviceCount: 9,
        counts: { ...zero, succeeded: 3, downloading: 2, failed: 1, pending: 3 },
      },
    ],
    currentPhase: 1,
    total: 10,
    counts: { ...zero, succeeded: 4, downloading: 2, failed: 1, pending: 3 },
    failures: [{ reason: 'health-check-failed', count: 1 }],
    thresholds: { maxFailurePercent: 5, minSuccessPercent: 95 },
    createdAt: '2026-11-30T10:00:00.000Z',
    createdBy: 'operator@example.com',
    ...over,
  };
}

export function aDryRun(over: Partial<DryRun> = {}): DryRun {
  return {
    summary: {
      devices: 3,
      eligible: 2,
      incompatibleBoard: 1,
      agentTooOld: 0,
      insufficientSpace: 0,
      totalDownloadBytes: 10_485_760,
    },
    phases: [
      { index: 0, deviceCount: 1 },
      { index: 1, deviceCount: 1 },
    ],
    devices: [
      {
        deviceId: uuid(),
        name: 'dev-a',
        board: 'qemu-aarch64',
        agentVersion: '1.2.0',
        downloadBytes: 5_242_880,
        freeBytes: 1e9,
        enoughSpace: true,
        boardCompatible: true,
        agentCompatible: true,
        problems: [],
      },
      {
        deviceId: uuid(),
        name: 'dev-b',
        board: 'qemu-aarch64',
        agentVersion: '1.2.0',
        downloadBytes: 5_242_880,
        freeBytes: 1e9,
        enoughSpace: true,
        boardCompatible: true,
        agentCompatible: true,
        problems: [],
      },
      {
        deviceId: uuid(),
        name: 'dev-c',
        board: 'beaglebone',
        agentVersion: '1.2.0',
        downloadBytes: 0,
        freeBytes: 1e9,
        enoughSpace: true,
        boardCompatible: false,
        agentCompatible: true,
        problems: ['board beaglebone is not compatible'],
      },
    ],
    ...over,
  };
}

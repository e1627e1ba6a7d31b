import {
  parseReleaseManifest,
  type Device,
  type DeviceCommand,
  type DeviceDetail,
  type DryRunDevice,
  type DryRunReport,
  type Release,
  type RolloutDetail,
} from '@fleet/protocol/browser';

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

export function aCommand(over: Partial<DeviceCommand> = {}): DeviceCommand {
  return {
    id: uuid(),
    deviceId: uuid(),
    kind: 'reboot',
    params: {},
    status: 'sent',
    createdAt: '2026-11-30T12:00:00.000Z',
    createdBy: 'user:x',
    sentAt: null,
    ackAt: null,
    message: null,
    ...over,
  };
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

/** A release manifest as the hub stores it (parsed: defaults filled in), signed by one key. */
function releaseManifest(rootfs: string): Release['manifest'] {
  const r = parseReleaseManifest({
    spec: 'fleet-release@1',
    release: '1.1.0',
    board: 'qemu-aarch64',
    version: '1.1.0',
    compatibleBoards: ['qemu-aarch64', 'raspberrypi4-64'],
    minAgentVersion: '1.0.0',
    sequence: 2,
    notes: 'faster boot',
    containers: {
      web: {
        image: { ref: 'registry.local/web:1.1', digest: `sha256:${'d'.repeat(64)}` },
        rootfs: { digest: rootfs, size: 5_242_880 },
        group: 'app',
        start: { entrypoint: ['/bin/web'] },
      },
    },
    signatures: [{ keyId: '0123456789abcdef', alg: 'ed25519', sig: `${'A'.repeat(86)}==` }],
  });
  if (!r.ok) throw r.error;
  return r.value;
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
    manifest: releaseManifest(rootfs),
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

export function aRollout(over: Partial<RolloutDetail> = {}): RolloutDetail {
  return {
    id: uuid(700001),
    name: null,
    releaseId: uuid(700002),
    releaseVersion: '1.1.0',
    fleetId: FLEET_ID,
    fleetName: 'lab',
    tags: [],
    deviceIds: [],
    phases: [
      { count: 1, bakeSeconds: 600 },
      { percent: 100, bakeSeconds: 600 },
    ],
    maxFailurePercent: 5,
    minSuccessPercent: 95,
    deviceTimeoutSeconds: 3600,
    maxParallel: 100,
    deviceBakeSeconds: 30,
    force: false,
    state: 'running',
    stateReason: null,
    currentPhase: 1,
    bakeStartedAt: null,
    acknowledgedFailures: 0,
    createdAt: '2026-11-30T10:00:00.000Z',
    createdBy: 'operator@example.com',
    updatedAt: '2026-11-30T10:05:00.000Z',
    finishedAt: null,
    counts: { ...zero, succeeded: 4, downloading: 2, failed: 1, pending: 3 },
    phaseCounts: [
      { phase: 0, total: 1, counts: { ...zero, succeeded: 1 } },
      { phase: 1, total: 9, counts: { ...zero, succeeded: 3, downloading: 2, failed: 1, pending: 3 } },
    ],
    ...over,
  };
}

function aDryRunDevice(over: Partial<DryRunDevice>): DryRunDevice {
  return {
    deviceId: uuid(),
    name: 'dev',
    board: 'qemu-aarch64',
    agentVersion: '1.2.0',
    online: true,
    currentRelease: '1.0.0',
    downloadBytes: 5_242_880,
    missingObjects: 1,
    freeBytes: 1e9,
    spaceOk: true,
    boardOk: true,
    agentOk: true,
    alreadyCurrent: false,
    failedBefore: false,
    eligible: true,
    problems: [],
    ...over,
  };
}

export function aDryRun(over: Partial<DryRunReport> = {}): DryRunReport {
  return {
    release: { id: uuid(700002), version: '1.1.0', sequence: 2, bytes: 5_242_880 },
    fleetId: FLEET_ID,
    summary: {
      devices: 3,
      eligible: 2,
      downloadBytes: 10_485_760,
      alreadyCurrent: 0,
      insufficientSpace: 0,
      incompatibleBoard: 1,
      agentTooOld: 0,
      failedBefore: 0,
      unknownInventory: 0,
      phaseSizes: [1, 1],
    },
    devices: [
      aDryRunDevice({ name: 'dev-a' }),
      aDryRunDevice({ name: 'dev-b' }),
      aDryRunDevice({
        name: 'dev-c',
        board: 'beaglebone',
        boardOk: false,
        eligible: false,
        downloadBytes: 0,
        problems: ['board beaglebone is not in the release'],
      }),
    ],
    ...over,
  };
}

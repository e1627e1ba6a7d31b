// The qemu proof of issue #8, end to end: a real hub on the host, a built qemu-aarch64 image
// booted by U-Boot in qemu-system-aarch64 with user-mode networking (the guest reaches the
// host's loopback as 10.0.2.2). The device provisions with its claim token and reports online;
// a system release (a new root filesystem slot image) switches it to slot B and it commits;
// a release whose kernel does not boot makes U-Boot fall back after bootlimit and the device
// reports the rollback with reason boot-failed. Needs root, qemu-system-arm, u-boot-qemu,
// g++-aarch64-linux-gnu, Postgres on 127.0.0.1:5432 and the agent bundle
// (`pnpm --filter @fleet/device-agent bundle`, built here when missing).
import { existsSync } from 'node:fs';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateSigningKey, type ReleaseManifest } from '@fleet/protocol';
import { fleetImage, QemuDevice, replaceFileInExt4, run, sha256Hex, waitFor } from './helpers/qemu-device.js';
import { startQemuHub, type QemuHub } from './helpers/qemu-hub.js';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const BOARD_JSON = join(REPO, 'board-support/boards/qemu-aarch64/board.json');

interface Board {
  name: string;
  bootloader: { source: { kind: string; path?: string } };
  qemu: { machine: string; cpu: string; memoryMiB: number };
  bootState: { bootlimit: number };
}
interface Device {
  id: string;
  online: boolean;
  currentRelease: string | null;
  currentSequence: number | null;
  updateState: string;
  updateStatus: string | null;
  updateReason: string | null;
  failedRevisions: string[];
}
interface UpdateEvent {
  status: string;
  state: string;
  releaseVersion: string;
  reason: string | null;
  message: string | null;
  failedBootLog: string | null;
}

let board: Board;
let dir: string;
let hub: QemuHub;
let device: QemuDevice;
let fleetName: string;
let deviceId: string;
let imageManifest: { rootfs: { file: string; digest: string } };
const key = generateSigningKey('qemu-e2e');

function qemuArgs(disk: string, extra: string[]): string[] {
  return [
    '-M',
    board.qemu.machine,
    '-cpu',
    board.qemu.cpu,
    '-m',
    String(board.qemu.memoryMiB),
    '-nographic',
    '-no-reboot',
    '-bios',
    board.bootloader.source.path ?? '',
    '-drive',
    `file=${disk},if=virtio,format=raw`,
    ...extra,
  ];
}

const context = () =>
  `--- serial ---\n${device?.log().slice(-8000) ?? ''}\n--- hub ---\n${hub?.output().slice(-3000) ?? ''}`;

/** A system release from a slot image: object uploaded, signed manifest registered, rollout started. */
async function publishSystemRelease(
  rootfs: string,
  version: string,
  sequence: number,
): Promise<ReleaseManifest> {
  const out = join(dir, `release-${version}`);
  await fleetImage([
    'release-rootfs',
    '--rootfs',
    rootfs,
    '--board',
    board.name,
    '--version',
    version,
    '--sequence',
    String(sequence),
    '--key',
    join(dir, 'key.pem'),
    '--out',
    out,
  ]);
  const manifest = JSON.parse(await readFile(join(out, 'release.json'), 'utf8')) as ReleaseManifest;
  const digest = manifest.system?.rootfs?.digest ?? '';
  const hex = digest.slice('sha256:'.length);
  expect(await sha256Hex(join(out, 'objects/sha256', hex))).toBe(hex);
  await hub.putObject(join(out, 'objects/sha256', hex), hex);
  await hub.api('POST', '/releases', manifest);
  await hub.api('POST', '/rollouts', {
    release: version,
    fleet: fleetName,
    deviceIds: [deviceId],
    deviceBakeSeconds: 5,
    deviceTimeoutSeconds: 1800,
  });
  return manifest;
}

beforeAll(async () => {
  board = JSON.parse(await readFile(BOARD_JSON, 'utf8')) as Board;
  dir = await mkdtemp(join(tmpdir(), 'fleet-qemu-ota-'));
  if (!existsSync(join(REPO, 'device-agent/dist/bundle/fleet-agent.mjs'))) {
    await run('pnpm', ['--filter', '@fleet/device-agent', 'bundle'], { cwd: REPO });
  }
  hub = await startQemuHub();
  await hub.api('POST', '/keys', { name: 'qemu-e2e', publicKey: key.trustRoot.publicKey });
  fleetName = `qemu-${Date.now().toString(36)}`;
  await hub.api('POST', '/fleets', { name: fleetName });
  const claim = await hub.api<{ token: string }>('POST', `/fleets/${fleetName}/claim-tokens`, {
    name: 'qemu',
  });
  await writeFile(join(dir, 'key.pem'), key.privateKeyPem, { mode: 0o600 });
  await writeFile(join(dir, 'trust-root.json'), JSON.stringify(key.trustRoot));
  await fleetImage([
    'build',
    '--board',
    board.name,
    '--hub',
    hub.guestUrl,
    '--claim-token',
    claim.token,
    '--trust-root',
    join(dir, 'trust-root.json'),
    '--agent',
    'auto',
    '--out',
    join(dir, 'out'),
  ]);
  imageManifest = JSON.parse(
    await readFile(join(dir, 'out', `fleet-${board.name}.manifest.json`), 'utf8'),
  ) as typeof imageManifest;
  const disk = join(dir, 'disk.img');
  await run('cp', ['--sparse=always', join(dir, 'out', `fleet-${board.name}.img`), disk]);
  device = new QemuDevice({ disk, qemuArgs, network: true });
}, 600_000);

afterAll(async () => {
  await device?.stop();
  if (process.env.FLEET_E2E_KEEP_LOG)
    await writeFile(process.env.FLEET_E2E_KEEP_LOG, device?.log() ?? '').catch(() => {});
  await hub?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('qemu-aarch64 device with a hub on the host', () => {
  it('provisions with its claim token and reports online', async () => {
    device.start();
    const found = await waitFor(
      'the device to provision and come online',
      async () => {
        // A fresh database: the only device is ours.
        const page = await hub.api<{ items: Device[] }>('GET', '/devices');
        return page.items.find((d) => d.online);
      },
      240_000,
      context,
    );
    deviceId = found.id;
    expect(found.online).toBe(true);
    await device.waitForLog(/FLEET: userspace slot=A/, { timeoutMs: 1000 });
  });

  it('a system release switches it to slot B, which it commits and reports', async () => {
    // Slot B's image: the factory root filesystem with a new /etc/fleet/release.
    const v2 = join(dir, 'rootfs-v2.ext4');
    await cp(join(dir, 'out', imageManifest.rootfs.file), v2);
    await replaceFileInExt4(v2, '/etc/fleet/release', Buffer.from('qemu-aarch64-1.1.0\n'), dir);
    const bootsBefore = device.boots;
    const manifest = await publishSystemRelease(v2, '1.1.0', 2);
    const done = await waitFor(
      'the device to commit 1.1.0',
      async () => {
        const d = await hub.api<Device>('GET', `/devices/${deviceId}`);
        if (d.updateStatus === 'failed' || d.updateStatus === 'rolled-back')
          throw new Error(`update ended ${d.updateStatus}: ${d.updateReason}`);
        return d.currentSequence === manifest.sequence && d.updateState === 'idle' && d.online
          ? d
          : undefined;
      },
      600_000,
      context,
      2000,
    );
    expect(done.currentSequence).toBe(2);
    expect(device.boots).toBeGreaterThan(bootsBefore);
    await device.waitForLog(/FLEET: userspace slot=B release=qemu-aarch64-1\.1\.0/, {
      fromBoot: bootsBefore + 1,
      timeoutMs: 1000,
    });
    const updates = await hub.api<UpdateEvent[] | { items: UpdateEvent[] }>(
      'GET',
      `/devices/${deviceId}/updates`,
    );
    const events = Array.isArray(updates) ? updates : updates.items;
    expect(events.some((e) => e.releaseVersion === '1.1.0' && e.status === 'succeeded')).toBe(true);
  });

  it('a release with a broken kernel falls back after bootlimit and is reported rolled back (boot-failed)', async () => {
    const broken = join(dir, 'rootfs-broken.ext4');
    await cp(join(dir, 'out', imageManifest.rootfs.file), broken);
    await replaceFileInExt4(broken, '/etc/fleet/release', Buffer.from('qemu-aarch64-1.2.0\n'), dir);
    await replaceFileInExt4(broken, '/boot/Image', Buffer.alloc(4 * 1024 * 1024, 0x5a), dir);
    const bootsBefore = device.boots;
    // The previous rollout must have finished before the fleet takes another.
    await waitFor(
      'the 1.1.0 rollout to finish',
      async () => {
        const page = await hub.api<{ items: { state: string }[] }>(
          'GET',
          `/rollouts?fleet=${encodeURIComponent(fleetName)}`,
        );
        return page.items.every((r) => r.state !== 'running' && r.state !== 'paused') ? true : undefined;
      },
      120_000,
      context,
    );
    await publishSystemRelease(broken, '1.2.0', 3);
    const rolledBack = await waitFor(
      'the device to report the rollback',
      async () => {
        const d = await hub.api<Device>('GET', `/devices/${deviceId}`);
        return d.updateStatus === 'rolled-back' && d.updateState === 'idle' && d.online ? d : undefined;
      },
      600_000,
      context,
      2000,
    );
    expect(rolledBack.updateReason).toBe('boot-failed');
    expect(rolledBack.currentSequence).toBe(2);
    // U-Boot tried the new slot bootlimit times, then went back to B (the committed slot).
    const log = device
      .log()
      .split(/----- boot \d+ -----/)
      .slice(bootsBefore + 1)
      .join('\n');
    expect(log).toMatch(/FLEET: userspace slot=B release=qemu-aarch64-1\.1\.0/);
    expect(log).not.toMatch(/release=qemu-aarch64-1\.2\.0/);
    const updates = await hub.api<UpdateEvent[] | { items: UpdateEvent[] }>(
      'GET',
      `/devices/${deviceId}/updates`,
    );
    const events = Array.isArray(updates) ? updates : updates.items;
    expect(
      events.some(
        (e) => e.releaseVersion === '1.2.0' && e.status === 'rolled-back' && e.reason === 'boot-failed',
      ),
    ).toBe(true);
  });
});

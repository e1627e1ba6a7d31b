// The fixture shared by the qemu end-to-end test and `pnpm torture:qemu`: a hub on the host
// with a release key, a fleet and a claim token; a qemu-aarch64 image built for it (agent
// bundle, trust root, hub at 10.0.2.2); system releases published from slot images.
import { cp, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateSigningKey, type ReleaseManifest, type SigningKey } from '@fleet/protocol';
import { fleetImage, replaceFileInExt4, run, sha256Hex } from './qemu-device.js';
import { startQemuHub, type QemuHub } from './qemu-hub.js';

const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const BOARD_JSON = join(REPO, 'board-support/boards/qemu-aarch64/board.json');

export interface QemuBoard {
  name: string;
  bootloader: { source: { kind: string; path?: string } };
  qemu: { machine: string; cpu: string; memoryMiB: number; devices?: string[] };
  watchdog?: { device: string; timeoutSeconds: number };
  partitions: { role: string }[];
  bootState: { bootlimit: number; envSize: string; offsets: string[] };
}

export interface HubDevice {
  id: string;
  online: boolean;
  currentRelease: string | null;
  currentSequence: number | null;
  updateState: string;
  updateStatus: string | null;
  updateReason: string | null;
  failedRevisions: string[];
}

export interface HubUpdateEvent {
  status: string;
  state: string;
  releaseVersion: string;
  /** installing: 60 at its start, 60-75 while bytes go into the slot, then armed. */
  percent: number;
  reason: string | null;
  message: string | null;
  failedBootLog: string | null;
  at: string;
}

export interface QemuFleet {
  board: QemuBoard;
  hub: QemuHub;
  key: SigningKey;
  fleetName: string;
  /** The built image and its manifest (`fleet-image build` outputs). */
  image: string;
  rootfs: string;
  manifest: {
    rootfs: { file: string; digest: string };
    partitions: { role: string; offset: number; size: number }[];
  };
  qemuArgs(disk: string, extra: string[]): string[];
  /** A slot image: the factory root filesystem with its /etc/fleet/release (and optionally a garbage kernel). */
  variant(out: string, release: string, opts?: { brokenKernel?: boolean }): Promise<string>;
  /** Object uploaded and signed manifest registered (no rollout). */
  publishRelease(rootfs: string, version: string, sequence: number): Promise<ReleaseManifest>;
  /** A rollout of a registered release to these devices; `force` resends it where it failed. */
  startRollout(version: string, deviceIds: string[], opts?: { force?: boolean }): Promise<void>;
  /** publishRelease, then startRollout. */
  publishSystemRelease(
    rootfs: string,
    version: string,
    sequence: number,
    deviceIds: string[],
  ): Promise<ReleaseManifest>;
  /** Pause/abort whatever rollout the fleet still runs (a fleet takes one at a time). */
  abortRollouts(): Promise<void>;
  devices(): Promise<HubDevice[]>;
  device(id: string): Promise<HubDevice>;
  updates(id: string): Promise<HubUpdateEvent[]>;
  stop(): Promise<void>;
}

export async function prepareQemuFleet(dir: string, log: (m: string) => void = () => {}): Promise<QemuFleet> {
  const board = JSON.parse(await readFile(BOARD_JSON, 'utf8')) as QemuBoard;
  // Always from the current source: a bundle left from an older checkout may not parse the
  // agent config this image writes (protocol AgentConfig is a strict object).
  log('building the agent bundle');
  await run('pnpm', ['--filter', '@fleet/device-agent', 'bundle'], { cwd: REPO });
  log('starting the hub');
  const hub = await startQemuHub();
  try {
    const key = generateSigningKey('qemu-e2e');
    await hub.api('POST', '/keys', { name: 'qemu-e2e', publicKey: key.trustRoot.publicKey });
    const fleetName = `qemu-${Date.now().toString(36)}`;
    await hub.api('POST', '/fleets', { name: fleetName });
    const claim = await hub.api<{ token: string }>('POST', `/fleets/${fleetName}/claim-tokens`, {
      name: 'qemu',
    });
    await writeFile(join(dir, 'key.pem'), key.privateKeyPem, { mode: 0o600 });
    await writeFile(join(dir, 'trust-root.json'), JSON.stringify(key.trustRoot));
    log('building the image');
    const out = join(dir, 'out');
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
      out,
    ]);
    const manifest = JSON.parse(
      await readFile(join(out, `fleet-${board.name}.manifest.json`), 'utf8'),
    ) as QemuFleet['manifest'];
    const rootfs = join(out, manifest.rootfs.file);

    const api = hub.api.bind(hub);
    const fleet: QemuFleet = {
      board,
      hub,
      key,
      fleetName,
      image: join(out, `fleet-${board.name}.img`),
      rootfs,
      manifest,
      qemuArgs: (disk, extra) => [
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
        ...(board.qemu.devices ?? []).flatMap((d) => ['-device', d]),
        ...extra,
      ],
      async variant(dest, release, opts = {}) {
        await cp(rootfs, dest);
        await replaceFileInExt4(dest, '/etc/fleet/release', Buffer.from(`${release}\n`), dir);
        if (opts.brokenKernel)
          await replaceFileInExt4(dest, '/boot/Image', Buffer.alloc(4 * 1024 * 1024, 0x5a), dir);
        return dest;
      },
      async publishRelease(slotImage, version, sequence) {
        const rel = join(dir, `release-${version}`);
        await fleetImage([
          'release-rootfs',
          '--rootfs',
          slotImage,
          '--board',
          board.name,
          '--version',
          version,
          '--sequence',
          String(sequence),
          '--key',
          join(dir, 'key.pem'),
          '--out',
          rel,
        ]);
        const m = JSON.parse(await readFile(join(rel, 'release.json'), 'utf8')) as ReleaseManifest;
        const hex = (m.system?.rootfs?.digest ?? '').slice('sha256:'.length);
        const object = join(rel, 'objects/sha256', hex);
        if ((await sha256Hex(object)) !== hex)
          throw new Error(`release-rootfs wrote an object that is not ${hex}`);
        await hub.putObject(object, hex);
        await api('POST', '/releases', m);
        return m;
      },
      async startRollout(version, deviceIds, opts = {}) {
        await api('POST', '/rollouts', {
          release: version,
          fleet: fleetName,
          deviceIds,
          deviceBakeSeconds: 5,
          deviceTimeoutSeconds: 1800,
          force: opts.force ?? false,
        });
      },
      async publishSystemRelease(slotImage, version, sequence, deviceIds) {
        const m = await fleet.publishRelease(slotImage, version, sequence);
        await fleet.startRollout(version, deviceIds);
        return m;
      },
      async abortRollouts() {
        const page = await api<{ items: { id: string; state: string }[] }>(
          'GET',
          `/rollouts?fleet=${encodeURIComponent(fleetName)}`,
        );
        for (const r of page.items) {
          if (r.state === 'running' || r.state === 'paused')
            await api('POST', `/rollouts/${r.id}/abort`, { reason: 'next update' });
        }
      },
      async devices() {
        return (await api<{ items: HubDevice[] }>('GET', '/devices')).items;
      },
      device: (id) => api<HubDevice>('GET', `/devices/${id}`),
      async updates(id) {
        const r = await api<HubUpdateEvent[] | { items: HubUpdateEvent[] }>('GET', `/devices/${id}/updates`);
        return Array.isArray(r) ? r : r.items;
      },
      stop: () => hub.stop(),
    };
    return fleet;
  } catch (e) {
    await hub.stop();
    throw e;
  }
}

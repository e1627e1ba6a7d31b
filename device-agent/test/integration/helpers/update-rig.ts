// What the app-only update tests on real LXC share (update-app, update-supervised,
// update-handover): a busybox squashfs already in a fresh store (installs never download), a
// real LXC runtime, and UpdateEngines wired to them as main.ts wires the agent's, without the
// downloader and the reboot (both throw: an app-only update uses neither).
import { createHash } from 'node:crypto';
import { mkdir, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import {
  generateSigningKey,
  signManifest,
  ReleaseManifest,
  type ContainerSpecInput,
  type Progress,
  type Target,
} from '@fleet/protocol';
import { aContainer, aRelease } from '@fleet/protocol/testing';
import { Liblxc } from '../../../src/runtime/lxc/liblxc.js';
import { LxcRuntime } from '../../../src/runtime/lxc/lxc-runtime.js';
import { StarterClient } from '../../../src/runtime/lxc/starter.js';
import { BridgeNetwork } from '../../../src/runtime/network/bridge.js';
import { NftPortPublisher } from '../../../src/runtime/network/ports.js';
import { ObjectStore } from '../../../src/store/object-store.js';
import { RevisionStore } from '../../../src/store/revision-store.js';
import { VolumeStore } from '../../../src/store/volumes.js';
import {
  objectStorePort,
  StoreRevisions,
  systemClock,
  type RuntimeContainersOptions,
} from '../../../src/update/adapters.js';
import { DirectoryDurableFiles } from '../../../src/update/atomic-file.js';
import { UpdateEngine, type EngineOptions } from '../../../src/update/engine.js';
import { ExclusiveRunner } from '../../../src/update/exclusive-runner.js';
import { FileUpdateLocks } from '../../../src/update/locks.js';
import type { UpdateDeps } from '../../../src/update/ports.js';
import { buildBusyboxRootfs, buildSquashfs, tempDir } from './rootfs.js';

export interface UpdateRig {
  readonly key: ReturnType<typeof generateSigningKey>;
  readonly storage: string;
  readonly rootfs: { digest: string; size: number };
  readonly runtime: LxcRuntime;
  /** With `bridge`: the agent bridge and its host-port publisher. */
  readonly bridge?: BridgeNetwork;
  readonly ports?: NftPortPublisher;
  /** Every engine's progress reports and log lines, in order (logs go into failure messages). */
  readonly reports: Progress[];
  readonly logs: string[];
  /** Removes every container, the bridge and its ports, the starter and the temp directory. */
  close(): Promise<void>;
}

export async function startUpdateRig(o: {
  /** Names the signing key and the temp directory. */
  name: string;
  /** An own bridge for `network: bridge` containers: the agent's (fleet0) must not be touched. */
  bridge?: { name: string; subnet: string };
}): Promise<UpdateRig> {
  const tmp = await tempDir(`fleet-${o.name}-`);
  const storage = join(tmp.path, 'storage');
  const { path: sqfs, rootfs } = await busyboxImage(tmp.path);
  const objects = new ObjectStore(storage);
  await objects.init();
  // Objects arrive with the local install path (`fleet-agent install <dir>`): no download.
  await objects.putFile(rootfs.digest, sqfs);
  await new RevisionStore(storage).init();
  const lxcpath = join(tmp.path, 'lxc');
  await mkdir(lxcpath, { recursive: true });
  const bridge = o.bridge
    ? new BridgeNetwork({ ...o.bridge, stateFile: join(lxcpath, '.ipam.json') })
    : undefined;
  const ports = bridge ? new NftPortPublisher(bridge) : undefined;
  const starter = new StarterClient();
  const runtime = new LxcRuntime({ lxc: Liblxc.load(), starter, lxcpath, ...(bridge ? { bridge } : {}) });
  return {
    key: generateSigningKey(`${o.name}-it`),
    storage,
    rootfs,
    runtime,
    ...(bridge && ports ? { bridge, ports } : {}),
    reports: [],
    logs: [],
    close: async () => {
      for (const c of await runtime.list()) await runtime.remove(c.name).catch(() => undefined);
      await ports?.destroy();
      await bridge?.destroy();
      await starter.close();
      await tmp.cleanup();
    },
  };
}

/**
 * The busybox squashfs (built under `dir`) and the manifest's view of it. Also the update
 * benchmark's image, which installs it through a real agent process instead of a rig.
 */
export async function busyboxImage(
  dir: string,
): Promise<{ path: string; rootfs: { digest: string; size: number } }> {
  const tree = await buildBusyboxRootfs(join(dir, 'rootfs'));
  const path = await buildSquashfs(tree, join(dir, 'rootfs.sqfs'));
  const digest = `sha256:${createHash('sha256')
    .update(await readFile(path))
    .digest('hex')}`;
  return { path, rootfs: { digest, size: (await stat(path)).size } };
}

/** A signed release whose one container `web` runs the rig's busybox rootfs. */
export function webRelease(
  rig: Pick<UpdateRig, 'key' | 'rootfs'>,
  sequence: number,
  web: Partial<ContainerSpecInput>,
): ReleaseManifest {
  const input = aRelease({
    version: `${sequence}.0.0`,
    sequence,
    release: `r${sequence}`,
    containers: {
      web: aContainer({ rootfs: rig.rootfs, image: { ref: 'busybox', digest: rig.rootfs.digest }, ...web }),
    },
  });
  return signManifest(ReleaseManifest.parse(input), rig.key);
}

export function updateTarget(r: ReleaseManifest, updateId: string, over: Partial<Target> = {}): Target {
  return {
    updateId,
    release: r,
    objectBaseUrl: 'http://127.0.0.1:9/objects',
    config: {},
    configVersion: 0,
    strategy: 'stop-start',
    force: false,
    bakeSeconds: 0,
    ...over,
  };
}

/** What a containers adapter needs of one agent process: fresh handles on the rig's storage. */
export type AgentStore = Pick<
  RuntimeContainersOptions,
  'runtime' | 'objects' | 'volumes' | 'revisionNumber' | 'clock'
>;

/**
 * The engine's ports for one agent process, with fresh store handles (as after a restart);
 * `containers` gets those handles to build its adapter on.
 */
export function updateDeps<C extends UpdateDeps['containers']>(
  rig: UpdateRig,
  containers: (store: AgentStore) => C,
): UpdateDeps & { containers: C } {
  const objects = new ObjectStore(rig.storage);
  const revisions = new StoreRevisions(
    new RevisionStore(rig.storage),
    new DirectoryDurableFiles(join(rig.storage, 'update-revisions')),
  );
  return {
    files: new DirectoryDurableFiles(rig.storage),
    revisions,
    objects: objectStorePort(objects, rig.storage),
    downloader: {
      fetch: async (missing) => {
        throw new Error(
          `nothing should be downloaded here, asked for ${missing.map((m) => m.digest).join(', ')}`,
        );
      },
    },
    containers: containers({
      runtime: rig.runtime,
      objects,
      volumes: new VolumeStore(rig.storage),
      revisionNumber: (id) => revisions.numberOf(id),
      clock: systemClock,
    }),
    reboot: async () => {
      throw new Error('an app-only update never reboots');
    },
    locks: new FileUpdateLocks(rig.storage),
    clock: systemClock,
    report: (p) => rig.reports.push(p),
    log: (level, msg) => rig.logs.push(`${level}: ${msg}`),
  };
}

/** An engine on `deps`; the health gate waits `goalTimeoutMs` for goals, polling every `pollMs`. */
export function updateEngine(
  rig: UpdateRig,
  deps: UpdateDeps,
  o: { goalTimeoutMs: number; pollMs: number; crashHook?: EngineOptions['crashHook'] },
): UpdateEngine {
  return new UpdateEngine(deps, {
    identity: { board: 'qemu-aarch64', agentVersion: '1.0.0', trustRoots: [rig.key.trustRoot] },
    runner: new ExclusiveRunner(),
    settings: {
      gate: { goalTimeoutMs: o.goalTimeoutMs, pollMs: o.pollMs, hubTimeoutMs: 1_000 },
      spaceReserveBytes: 1024 * 1024,
      lockPollMs: 200,
    },
    ...(o.crashHook ? { crashHook: o.crashHook } : {}),
  });
}

/** The last report of an update, once the engine is idle again (its outcome). */
export function finalReport(rig: UpdateRig, updateId: string): Progress | undefined {
  return rig.reports.filter((p) => p.updateId === updateId && p.state === 'idle').at(-1);
}

export async function runningContainers(rig: UpdateRig): Promise<string[]> {
  return (await rig.runtime.list())
    .filter((c) => c.state === 'running')
    .map((c) => c.name)
    .sort();
}

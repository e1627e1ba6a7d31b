// What the update engine needs from the rest of the agent. Narrow on purpose: each port lists
// only the calls the engine makes, so main.ts can adapt the real store/runtime/boot/link
// objects to them, and unit tests can use small fakes (testing/fakes.ts).
import type { ContainerState, ObjectRef, Progress, ReleaseManifest, TrustRoot } from '@fleet/protocol';
import type { Executors, ObservedInstance } from '../reconcile/index.js';

export type Slot = 'A' | 'B';

/**
 * Small files replaced atomically (journal, `current` pointer, failed set). `writeAtomic` is
 * temp file + fsync + rename(2) + fsync of the directory: after a power cut a reader sees the
 * old bytes or the new ones, never a mix (atomic-file.ts is the real one).
 */
export interface DurableFiles {
  read(name: string): Promise<Buffer | null>;
  writeAtomic(name: string, data: string): Promise<void>;
}

/** A revision as the engine stores it: the signed release plus the operator config it runs with. */
export interface StoredRevision {
  readonly id: string;
  readonly release: ReleaseManifest;
  readonly config: Readonly<Record<string, Readonly<Record<string, string>>>>;
  readonly configVersion: number;
}

/** store/: revision documents (`revisions/<id>/...`). Must be durable when `put` resolves. */
export interface RevisionStore {
  put(rev: StoredRevision): Promise<void>;
  get(id: string): Promise<StoredRevision | null>;
}

/** store/: the content-addressed object store. */
export interface ObjectStore {
  /** The refs that are not present (and verified) locally. */
  missing(refs: readonly ObjectRef[]): Promise<ObjectRef[]>;
  /** Path of a present object (the system rootfs image handed to BootControl.install). */
  pathOf(digest: string): string;
  /** Bytes free on the data partition (statvfs f_bavail * f_frsize). */
  freeBytes(): Promise<number>;
}

/** link/: the object downloader (Range resume, sha256 while streaming, retries). */
export interface Downloader {
  fetch(
    objects: readonly ObjectRef[],
    baseUrl: string,
    opts: { signal: AbortSignal; onProgress?: (doneBytes: number, totalBytes: number) => void },
  ): Promise<void>;
}

/** One container instance as the supervisor sees it, for the health gate. */
export interface InstanceHealth {
  readonly instance: string;
  readonly state: ContainerState;
  /** Restarts done by the supervisor's restart policy since the instance was started. */
  readonly restarts: number;
  readonly message?: string;
}

/** runtime/ + supervisor/: what runs, and how healthy it is. Mutations go through `executors`. */
export interface Containers {
  /** Every instance the runtime has defined (labels `fleet.container`, `fleet.spec-hash`...). */
  observe(): Promise<ObservedInstance[]>;
  health(instances: readonly string[]): Promise<InstanceHealth[]>;
  readonly executors: Executors;
}

/** What the bootloader did on the boot we run (boot/ BootVerdict). */
export interface BootVerdict {
  bootedSlot: Slot;
  triedSlot?: Slot;
  fellBack: boolean;
  bootcount: number;
  armedSlot?: Slot;
}

/** boot/: the subset of BootControl the engine calls. boot/'s backends satisfy it as they are. */
export interface BootPort {
  activeSlot(): Promise<Slot>;
  install(
    source: string,
    slot: Slot,
    options?: {
      expectedDigest?: string;
      signal?: AbortSignal;
      onProgress?: (written: number, total: number | undefined) => void;
    },
  ): Promise<unknown>;
  armTryBoot(slot: Slot): Promise<void>;
  verifyBoot(): Promise<BootVerdict>;
  commit(): Promise<unknown>;
  rollback(): Promise<{ nextSlot: Slot; rebootRequired: boolean }>;
}

export interface Clock {
  now(): number;
  /** Resolves after `ms`, rejects with the signal's reason when it aborts. */
  sleep(ms: number, signal: AbortSignal): Promise<void>;
}

/** App-held update locks (locks.ts): names of the containers that hold one now. */
export interface UpdateLocks {
  held(containers: readonly string[]): Promise<string[]>;
}

export interface UpdateDeps {
  readonly files: DurableFiles;
  readonly revisions: RevisionStore;
  readonly objects: ObjectStore;
  readonly downloader: Downloader;
  readonly containers: Containers;
  /** Absent on a device without A/B slots: system updates are then refused. */
  readonly boot?: BootPort;
  /**
   * Restart the machine (sync + reboot(2) on a board; a simulated reboot that ends the agent
   * process with the file backend). The engine stops driving after calling it: the journal
   * says where to pick up.
   */
  readonly reboot: () => Promise<void>;
  /** The console of the failed boot when the bootloader fell back, if the board keeps it. */
  readonly failedBootLog?: () => Promise<string | undefined>;
  /** link/: whether the hub session is up. Absent: the gate does not require the hub. */
  readonly hubReachable?: () => boolean;
  readonly locks: UpdateLocks;
  readonly clock: Clock;
  /** link/: progress messages (queued while offline). */
  readonly report: (p: Progress) => void;
  readonly log?: (level: 'info' | 'warn' | 'error', msg: string) => void;
}

export interface AgentIdentity {
  readonly board: string;
  readonly agentVersion: string;
  readonly trustRoots: readonly TrustRoot[];
}

// The ContainerRuntime port: what the supervisor and the reconciler need from a container
// engine. LxcRuntime (runtime/lxc/) is the implementation; unit tests use a fake.
import type { ContainerSpec } from '@fleet/protocol';

/** Where the container's read-only root comes from; a writable overlay upper goes on top. */
export type RootfsSource =
  { readonly kind: 'squashfs'; readonly path: string } | { readonly kind: 'dir'; readonly path: string };

/** What backs a volume on the host: a directory the store prepared, or a fresh tmpfs. */
export type VolumeSource =
  | { readonly kind: 'bind'; readonly hostPath: string }
  | { readonly kind: 'tmpfs'; readonly sizeBytes?: number };

export interface CreateRequest {
  readonly name: string;
  readonly spec: ContainerSpec;
  readonly rootfs: RootfsSource;
  /** One entry per `spec.volumes[].name`. */
  readonly volumes: Readonly<Record<string, VolumeSource>>;
  /**
   * Free-form labels persisted with the container (revision, spec hash...), returned by list().
   * `fleet.container` (the container's name in the manifest) is also its default hostname.
   */
  readonly labels?: Readonly<Record<string, string>>;
  /**
   * Host directory bind-mounted read-write at `/run/fleet` (FLEET_RUN_DIR), where the app holds
   * its update lock (`/run/fleet/updates.lock`). Created when missing and owned by the
   * workload's user. Mounted after every volume above it, so a `/run` volume does not hide it.
   */
  readonly updateLockDir?: string;
}

/** Label naming the container in the manifest; instances are named `<name[:50]>-<12 hex>`. */
export const CONTAINER_NAME_LABEL = 'fleet.container';

export type RuntimeState = 'stopped' | 'starting' | 'running' | 'stopping' | 'frozen' | 'absent';

export interface ContainerStatus {
  readonly name: string;
  readonly state: RuntimeState;
  readonly initPid: number | null;
  readonly labels: Readonly<Record<string, string>>;
  /** How the last run ended, when it is known (stopped containers only). */
  readonly lastExit: { readonly code: number } | null;
}

export interface StopResult {
  /** True when the stop signal was enough; false when the timeout ran out and init was killed. */
  readonly graceful: boolean;
}

export interface ExecResult {
  readonly exitCode: number | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly timedOut: boolean;
}

export interface ExecOptions {
  readonly timeoutMs: number;
  readonly env?: Readonly<Record<string, string>>;
  readonly signal?: AbortSignal;
}

export interface ContainerRuntime {
  /** Write the container's definition (idempotent for the same request). */
  create(req: CreateRequest, signal?: AbortSignal): Promise<void>;
  start(name: string, signal?: AbortSignal): Promise<ContainerStatus>;
  /** Stop signal, then `timeoutMs` (default: the spec's stopTimeoutMs), then kill. */
  stop(name: string, opts?: { readonly timeoutMs?: number }): Promise<StopResult>;
  kill(name: string): Promise<void>;
  /** Stop if needed and delete the definition, the writable layer and the mounts. */
  remove(name: string): Promise<void>;
  state(name: string): Promise<ContainerStatus>;
  exec(name: string, argv: readonly string[], opts: ExecOptions): Promise<ExecResult>;
  /** Console output of the current and the previous (rotated) log file. */
  logs(name: string, opts?: { readonly tailBytes?: number }): Promise<string>;
  /** Every container this runtime defined, running or not (adoption after a restart). */
  list(): Promise<ContainerStatus[]>;
}

export class RuntimeError extends Error {
  override readonly name = 'RuntimeError';
}

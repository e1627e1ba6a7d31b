// Plans are data (CONVENTIONS 5): a plan is a list of steps, each a plain object, and apply()
// runs them through an executor map whose type names every action, so adding an action without
// an executor is a compile error (the idea of balena-supervisor's composition-step.ts).
import type { ContainerGroup, ContainerSpec, PortMapping, VolumeSpec } from '@fleet/protocol';

/** One container of a revision as it exists on the device: a name and the hash of its spec. */
export interface InstanceRef {
  /** The container's name in the manifest (`web`). */
  readonly container: string;
  /** The runtime name: `<container>-<12 hex of the spec hash>`; see instance.ts. */
  readonly instance: string;
}

/** The arguments of each action. */
export interface StepArgs {
  /**
   * Stop a running instance (stop signal, timeout, kill). Its definition stays for a rollback.
   * Host ports still pointing at it are taken away first (new connections are refused at once
   * rather than sent to an address that stopped answering). `drain`: wait (bounded) until the
   * connections it accepted before are closed; hand-over sets it after switching the ports.
   */
  stop: InstanceRef & {
    readonly group: ContainerGroup;
    readonly timeoutMs: number;
    readonly drain?: boolean;
  };
  /** Delete an instance's definition and writable layer (volumes are not touched). */
  remove: InstanceRef;
  /** Make sure every volume of the container exists (permanent ones are reused, never reset). */
  'prepare-volumes': InstanceRef & { readonly revision: string; readonly volumes: readonly VolumeSpec[] };
  /** Define the instance in the runtime (idempotent). */
  create: InstanceRef & { readonly revision: string; readonly spec: ContainerSpec };
  start: InstanceRef & { readonly group: ContainerGroup };
  /** Once the instance accepts connections, point its host ports at it (one atomic switch). */
  publish: InstanceRef & { readonly ports: readonly PortMapping[] };
  /** Block until every listed instance reached its status goal, or fail (crash loop, timeout). */
  'wait-goals': {
    readonly group: ContainerGroup;
    readonly instances: readonly (InstanceRef & { readonly goal: ContainerSpec['statusGoal'] })[];
  };
}

export type StepAction = keyof StepArgs;

/** A step of one action (`Step<'stop'>`) or, by default, any step. */
export type Step<A extends StepAction = StepAction> = { [K in A]: { readonly action: K } & StepArgs[K] }[A];

/** One executor per action; a missing key does not compile. */
export type Executors = { [K in StepAction]: (step: Step<K>, signal: AbortSignal) => Promise<void> };

export const STEP_ACTIONS = [
  'stop',
  'remove',
  'prepare-volumes',
  'create',
  'start',
  'publish',
  'wait-goals',
] as const satisfies readonly StepAction[];

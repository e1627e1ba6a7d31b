// Plans are data (CONVENTIONS 5): a plan is a list of steps, each a plain object, and apply()
// runs them through an executor map whose type names every action, so adding an action without
// an executor is a compile error (the idea of balena-supervisor's composition-step.ts).
import type { ContainerGroup, ContainerSpec, VolumeSpec } from '@fleet/protocol';

/** One container of a revision as it exists on the device: a name and the hash of its spec. */
export interface InstanceRef {
  /** The container's name in the manifest (`web`). */
  readonly container: string;
  /** The runtime name: `<container>-<12 hex of the spec hash>`; see instance.ts. */
  readonly instance: string;
}

/** The arguments of each action. */
export interface StepArgs {
  /** Stop a running instance (stop signal, timeout, kill). Its definition stays for a rollback. */
  stop: InstanceRef & { readonly group: ContainerGroup; readonly timeoutMs: number };
  /** Delete an instance's definition and writable layer (volumes are not touched). */
  remove: InstanceRef;
  /** Make sure every volume of the container exists (permanent ones are reused, never reset). */
  'prepare-volumes': InstanceRef & { readonly revision: string; readonly volumes: readonly VolumeSpec[] };
  /** Define the instance in the runtime (idempotent). */
  create: InstanceRef & { readonly revision: string; readonly spec: ContainerSpec };
  start: InstanceRef & { readonly group: ContainerGroup };
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
  'wait-goals',
] as const satisfies readonly StepAction[];

import type { ContainerGroup, ContainerSpec, RevisionManifest } from '@fleet/protocol';
import { instanceName } from './instance.js';
import type { Step } from './steps.js';

/** Start order: the system layer (network, time...) before the apps that use it. */
export const GROUP_ORDER: readonly ContainerGroup[] = ['platform', 'app'];

export type Strategy = 'stop-start' | 'hand-over';

/** An instance the runtime reports (adoption after a restart, or a half-applied plan). */
export interface ObservedInstance {
  readonly container: string;
  readonly instance: string;
  readonly group: ContainerGroup;
  readonly running: boolean;
  readonly stopTimeoutMs: number;
}

export interface PlanOptions {
  /** Id of the target revision: recorded with created instances and `revision` volumes. */
  readonly revision: string;
  /** `stop-start` (default): stop what changes, then start the new. `hand-over`: start the new
   * instance of a container first and stop the old one once the new reached its status goal. */
  readonly strategy?: Strategy;
  /**
   * What the runtime really has. When absent every container of `current` is taken as running.
   * After a crash the device may hold a mix of two revisions: planning from what is observed
   * (not from a manifest) is what makes a resumed plan converge.
   */
  readonly observed?: readonly ObservedInstance[];
  /** Leave stopped old instances defined (they are removed after commit) so a rollback only has
   * to start them again. */
  readonly keepOld?: boolean;
  /**
   * Memory the device can spare on top of what runs. Hand-over runs old and new side by side,
   * so it is used only when the new instances' memory limits fit in it; a container without a
   * memory limit cannot be proven to fit and falls back to stop-start. Absent: no check.
   */
  readonly spareMemoryBytes?: number;
}

interface Wanted {
  readonly container: string;
  readonly instance: string;
  readonly spec: ContainerSpec;
}

const byName = <T extends { container: string; instance: string }>(a: T, b: T) =>
  a.container.localeCompare(b.container) || a.instance.localeCompare(b.instance);

function observedFrom(current: Pick<RevisionManifest, 'containers'> | null): ObservedInstance[] {
  if (!current) return [];
  return Object.entries(current.containers).map(([container, spec]) => ({
    container,
    instance: instanceName(container, spec),
    group: spec.group,
    running: true,
    stopTimeoutMs: spec.start.stopTimeoutMs,
  }));
}

/**
 * Pure: the steps that take the device from `current` (or what `opts.observed` reports) to
 * `target`. Containers whose spec did not change (rootfs digest, config vars and all) are not
 * touched. Stops go app group first, starts platform group first, each group waiting for its
 * status goals before the next starts.
 */
export function plan(
  current: Pick<RevisionManifest, 'containers'> | null,
  target: Pick<RevisionManifest, 'containers'>,
  opts: PlanOptions,
): Step[] {
  const actual = [...(opts.observed ?? observedFrom(current))].sort(byName);
  const wanted: Wanted[] = Object.entries(target.containers)
    .map(([container, spec]) => ({ container, instance: instanceName(container, spec), spec }))
    .sort(byName);
  const wantedIds = new Set(wanted.map((w) => w.instance));
  const runningIds = new Set(actual.filter((a) => a.running).map((a) => a.instance));

  const toStart = wanted.filter((w) => !runningIds.has(w.instance));
  const obsolete = actual.filter((a) => !wantedIds.has(a.instance));

  // Hand-over: an old running instance is kept until its replacement reached its goal.
  const handOver = new Set<string>();
  if (opts.strategy === 'hand-over') {
    let spare = opts.spareMemoryBytes;
    for (const w of toStart) {
      const old = obsolete.filter((o) => o.running && o.container === w.container);
      if (old.length === 0) continue;
      if (spare !== undefined) {
        const need = w.spec.resources.memoryBytes;
        if (need === undefined || need > spare) continue;
        spare -= need;
      }
      for (const o of old) handOver.add(o.instance);
    }
  }

  const steps: Step[] = [];
  const stopAndMaybeRemove = (list: readonly ObservedInstance[]) => {
    // Reverse group order: apps go down before the platform they depend on.
    for (const group of [...GROUP_ORDER].reverse()) {
      for (const o of list.filter((x) => x.group === group)) {
        if (o.running) {
          steps.push({
            action: 'stop',
            container: o.container,
            instance: o.instance,
            group,
            timeoutMs: o.stopTimeoutMs,
          });
        }
        if (!opts.keepOld) steps.push({ action: 'remove', container: o.container, instance: o.instance });
      }
    }
  };

  stopAndMaybeRemove(obsolete.filter((o) => o.running && !handOver.has(o.instance)));

  for (const group of GROUP_ORDER) {
    const starting = toStart.filter((w) => w.spec.group === group);
    for (const w of starting) {
      const ref = { container: w.container, instance: w.instance };
      if (w.spec.volumes.length > 0) {
        steps.push({ action: 'prepare-volumes', ...ref, revision: opts.revision, volumes: w.spec.volumes });
      }
      steps.push({ action: 'create', ...ref, revision: opts.revision, spec: w.spec });
      steps.push({ action: 'start', ...ref, group });
    }
    if (starting.length > 0) {
      steps.push({
        action: 'wait-goals',
        group,
        instances: starting.map((w) => ({
          container: w.container,
          instance: w.instance,
          goal: w.spec.statusGoal,
        })),
      });
    }
  }

  stopAndMaybeRemove(obsolete.filter((o) => handOver.has(o.instance)));
  // Instances that were already stopped: nothing to stop, only their definitions to drop.
  if (!opts.keepOld) {
    for (const o of obsolete.filter((x) => !x.running)) {
      steps.push({ action: 'remove', container: o.container, instance: o.instance });
    }
  }
  return steps;
}

/** The instance names a manifest runs, for checks such as "exactly one revision runs". */
export function instancesOf(m: Pick<RevisionManifest, 'containers'>): string[] {
  return Object.entries(m.containers)
    .map(([c, s]) => instanceName(c, s))
    .sort();
}

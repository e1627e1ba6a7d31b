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
  /** Keys (`8080/tcp`) of the host ports pointing at it now; absent: unknown, taken as right. */
  readonly published?: readonly string[];
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
 * touched. New definitions come first, then stops (app group first), starts (platform group
 * first, each group waiting for its status goals before the next starts), hand-over stops, and
 * removals last.
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
  const stop = (list: readonly ObservedInstance[], drain: boolean) => {
    // Reverse group order: apps go down before the platform they depend on.
    for (const group of [...GROUP_ORDER].reverse()) {
      for (const o of list.filter((x) => x.group === group && x.running)) {
        steps.push({
          action: 'stop',
          container: o.container,
          instance: o.instance,
          group,
          timeoutMs: o.stopTimeoutMs,
          ...(drain ? { drain } : {}),
        });
      }
    }
  };
  const publish = (w: Wanted) => {
    if (w.spec.ports)
      steps.push({ action: 'publish', container: w.container, instance: w.instance, ports: w.spec.ports });
  };
  // Containers whose replacement takes over from a running old instance (hand-over): their
  // ports switch only after the group reached its goals, right before the old one stops.
  const handedOver = new Set(obsolete.filter((o) => handOver.has(o.instance)).map((o) => o.container));

  // Everything that does not need the old instance gone comes before its stop: volumes and the
  // new definitions (instance names differ, so old and new never collide). An update's outage
  // is then only stop + start, and a spec the runtime refuses fails with the old still running.
  for (const group of GROUP_ORDER) {
    for (const w of toStart.filter((x) => x.spec.group === group)) {
      const ref = { container: w.container, instance: w.instance };
      if (w.spec.volumes.length > 0) {
        steps.push({ action: 'prepare-volumes', ...ref, revision: opts.revision, volumes: w.spec.volumes });
      }
      steps.push({ action: 'create', ...ref, revision: opts.revision, spec: w.spec });
    }
  }

  // A running instance that keeps running but whose host ports point elsewhere (a crash
  // between a hand-over's switch and its stop) gets them back before anything else stops.
  const observedById = new Map(actual.map((a) => [a.instance, a]));
  for (const w of wanted) {
    const o = observedById.get(w.instance);
    if (!o?.running || !w.spec.ports || o.published === undefined) continue;
    const have = new Set(o.published);
    if (w.spec.ports.some((p) => !have.has(`${p.host}/${p.protocol}`))) publish(w);
  }

  stop(
    obsolete.filter((o) => !handOver.has(o.instance)),
    false,
  );

  for (const group of GROUP_ORDER) {
    const starting = toStart.filter((w) => w.spec.group === group);
    for (const w of starting) {
      steps.push({ action: 'start', container: w.container, instance: w.instance, group });
      if (!handedOver.has(w.container)) publish(w);
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

  for (const w of toStart) if (handedOver.has(w.container)) publish(w);
  stop(
    obsolete.filter((o) => handOver.has(o.instance)),
    true,
  );
  // Definitions go last, outside the outage (unmount, delete the writable layer), whether the
  // instance was stopped above or before this plan (crash leftovers). keepOld keeps them for a
  // fast rollback; they are removed after the commit.
  if (!opts.keepOld) {
    for (const group of [...GROUP_ORDER].reverse()) {
      for (const o of obsolete.filter((x) => x.group === group)) {
        steps.push({ action: 'remove', container: o.container, instance: o.instance });
      }
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

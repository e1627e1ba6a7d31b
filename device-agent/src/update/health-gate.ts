import type { ContainerState, ReasonCode } from '@fleet/protocol';
import type { Clock, InstanceHealth } from './ports.js';

export interface GateInstance {
  readonly container: string;
  readonly instance: string;
  readonly goal: 'started' | 'ready';
}

export interface GateOptions {
  /** Time every instance gets to reach its status goal (Pantavisor's goals timeout is 120 s). */
  readonly goalTimeoutMs: number;
  /** How long everything must stay healthy before commit. */
  readonly bakeMs: number;
  readonly pollMs: number;
  /** Time the hub gets to become reachable at the end of the bake, when required. */
  readonly hubTimeoutMs: number;
}

export interface GateDeps {
  readonly health: (instances: readonly string[]) => Promise<InstanceHealth[]>;
  readonly hubReachable?: () => boolean;
  readonly clock: Clock;
}

export type GateResult =
  | { readonly ok: true }
  | {
      readonly ok: false;
      readonly reason: Extract<
        ReasonCode,
        | 'status-goal-timeout'
        | 'crash-loop'
        | 'health-check-failed'
        | 'hub-unreachable'
        | 'container-start-failed'
      >;
      readonly message: string;
    };

const STARTED: ReadonlySet<ContainerState> = new Set(['running', 'ready', 'unhealthy']);
const DEAD: ReadonlySet<ContainerState> = new Set(['stopped', 'exited', 'created']);

function atGoal(h: InstanceHealth | undefined, goal: GateInstance['goal']): boolean {
  if (!h) return false;
  return goal === 'ready' ? h.state === 'ready' : STARTED.has(h.state);
}

/**
 * The commit gate: every instance reaches its status goal, then stays there for the bake time
 * without a restart (a restart during the bake is a crash), and the hub is reachable at the end
 * when the device has one. Health is sampled every `pollMs` on the injected clock.
 */
export async function healthGate(
  instances: readonly GateInstance[],
  deps: GateDeps,
  opts: GateOptions,
  signal: AbortSignal,
): Promise<GateResult> {
  const names = instances.map((i) => i.instance);
  const sample = async () => new Map((await deps.health(names)).map((h) => [h.instance, h]));
  const fatal = (i: GateInstance, h: InstanceHealth | undefined): GateResult | null => {
    if (h?.state === 'crash-loop') {
      return {
        ok: false,
        reason: 'crash-loop',
        message: `${i.container} is crash-looping (${h.restarts} restarts)${h.message ? `: ${h.message}` : ''}`,
      };
    }
    return null;
  };

  // 1. Status goals.
  const started = deps.clock.now();
  for (;;) {
    signal.throwIfAborted();
    const s = await sample();
    for (const i of instances) {
      const f = fatal(i, s.get(i.instance));
      if (f) return f;
    }
    const pending = instances.filter((i) => !atGoal(s.get(i.instance), i.goal));
    if (pending.length === 0) break;
    if (deps.clock.now() - started >= opts.goalTimeoutMs) {
      const first = pending[0] as GateInstance;
      const h = s.get(first.instance);
      const unhealthy = h?.state === 'unhealthy';
      return {
        ok: false,
        reason: unhealthy
          ? 'health-check-failed'
          : DEAD.has(h?.state ?? 'stopped') && h
            ? 'container-start-failed'
            : 'status-goal-timeout',
        message: `status goal not reached in ${opts.goalTimeoutMs} ms: ${pending
          .map((p) => `${p.container} wants ${p.goal}, is ${s.get(p.instance)?.state ?? 'absent'}`)
          .join('; ')}`,
      };
    }
    await deps.clock.sleep(opts.pollMs, signal);
  }

  // 2. Bake: goals held, no restarts. At least one poll interval even with a bake of 0: a
  // container that dies a moment after reaching its goal must not be committed.
  const bakeMs = Math.max(opts.bakeMs, opts.pollMs);
  const baseline = await sample();
  // Goals still held and no restart since the baseline: checked on every bake sample and once
  // more at the very end of the gate.
  const held = (s: Map<string, InstanceHealth>, when: string): GateResult | null => {
    for (const i of instances) {
      const h = s.get(i.instance);
      const f = fatal(i, h);
      if (f) return f;
      const before = baseline.get(i.instance)?.restarts ?? 0;
      if (h && h.restarts > before) {
        return {
          ok: false,
          reason: 'crash-loop',
          message: `${i.container} restarted ${h.restarts - before} time(s) ${when}`,
        };
      }
      if (!atGoal(h, i.goal)) {
        const state = h?.state ?? 'absent';
        return {
          ok: false,
          reason: state === 'unhealthy' ? 'health-check-failed' : 'container-start-failed',
          message: `${i.container} left its status goal (${i.goal}) ${when}: it is ${state}${h?.message ? ` (${h.message})` : ''}`,
        };
      }
    }
    return null;
  };
  const bakeStart = deps.clock.now();
  for (;;) {
    signal.throwIfAborted();
    const f = held(await sample(), 'during the bake');
    if (f) return f;
    if (deps.clock.now() - bakeStart >= bakeMs) break;
    await deps.clock.sleep(
      Math.min(opts.pollMs, Math.max(1, bakeMs - (deps.clock.now() - bakeStart))),
      signal,
    );
  }

  // 3. The hub: a device that cannot reach its hub after an update cannot be updated again.
  if (deps.hubReachable) {
    const since = deps.clock.now();
    let waited = false;
    while (!deps.hubReachable()) {
      if (deps.clock.now() - since >= opts.hubTimeoutMs) {
        return {
          ok: false,
          reason: 'hub-unreachable',
          message: `hub not reachable within ${opts.hubTimeoutMs} ms after the bake`,
        };
      }
      await deps.clock.sleep(opts.pollMs, signal);
      waited = true;
    }
    // 4. What is committed is what runs at the end of the gate: a workload that died while
    // the hub was awaited must not be committed on the strength of an older sample.
    if (waited) {
      signal.throwIfAborted();
      const f = held(await sample(), 'while the hub was awaited');
      if (f) return f;
    }
  }
  return { ok: true };
}

// The supervisor's decisions, pure: restart or not, how long to wait, when a container is
// crash-looping, what a health-check history means, in which order groups start, and how a
// restarted agent reconciles what it finds running with what it wants (adoption).
import type { ContainerGroup, ContainerSpec, RestartPolicy } from '@fleet/protocol';

export interface BackoffOptions {
  readonly baseMs: number;
  readonly maxMs: number;
}

/** Exponential: base, 2*base, 4*base... capped at maxMs. `attempt` counts from 1. */
export function backoffDelay(attempt: number, o: BackoffOptions): number {
  if (attempt <= 0) return 0;
  return Math.min(o.maxMs, o.baseMs * 2 ** Math.min(attempt - 1, 30));
}

export interface RestartHistory {
  /** Restarts since the container last ran stably (ran at least `stableAfterMs`). */
  readonly restarts: number;
}

export type RestartDecision =
  | { readonly action: 'restart'; readonly attempt: number; readonly delayMs: number }
  | { readonly action: 'leave'; readonly state: 'exited' }
  | { readonly action: 'give-up'; readonly state: 'crash-loop' };

/**
 * After a container exited with `exitCode` following a run of `ranMs`: restart it (and after
 * what delay), leave it exited, or declare a crash loop. A run of at least `stableAfterMs`
 * forgives earlier crashes, so a service that fails once a week is never given up on.
 */
export function decideRestart(
  policy: RestartPolicy,
  exitCode: number,
  ranMs: number,
  history: RestartHistory,
  o: { readonly stableAfterMs: number; readonly maxBackoffMs: number },
): RestartDecision {
  if (policy.policy === 'never') return { action: 'leave', state: 'exited' };
  if (policy.policy === 'on-failure' && exitCode === 0) return { action: 'leave', state: 'exited' };
  const previous = ranMs >= o.stableAfterMs ? 0 : history.restarts;
  const attempt = previous + 1;
  if (attempt > policy.maxRetries) return { action: 'give-up', state: 'crash-loop' };
  return {
    action: 'restart',
    attempt,
    delayMs: backoffDelay(attempt, { baseMs: policy.backoffMs, maxMs: o.maxBackoffMs }),
  };
}

export type HealthStatus = 'starting' | 'healthy' | 'unhealthy';

export interface HealthState {
  readonly status: HealthStatus;
  readonly consecutiveFailures: number;
}

export const initialHealth: HealthState = { status: 'starting', consecutiveFailures: 0 };

/**
 * Docker's semantics: one pass makes it healthy; `retries` consecutive failures make it
 * unhealthy; failures inside the start period do not count until it passed once.
 */
export function nextHealth(
  s: HealthState,
  passed: boolean,
  sinceStartMs: number,
  check: { readonly retries: number; readonly startPeriodMs: number },
): HealthState {
  if (passed) return { status: 'healthy', consecutiveFailures: 0 };
  if (s.status === 'starting' && sinceStartMs < check.startPeriodMs) return s;
  const consecutiveFailures = s.consecutiveFailures + 1;
  return { status: consecutiveFailures >= check.retries ? 'unhealthy' : s.status, consecutiveFailures };
}

const GROUP_ORDER: readonly ContainerGroup[] = ['platform', 'app'];

/** Names per group in start order (platform first); names sorted for a stable order. */
export function startGroups(specs: Readonly<Record<string, Pick<ContainerSpec, 'group'>>>): string[][] {
  return GROUP_ORDER.map((g) =>
    Object.entries(specs)
      .filter(([, s]) => s.group === g)
      .map(([n]) => n)
      .sort(),
  ).filter((g) => g.length > 0);
}

export interface Found {
  readonly name: string;
  readonly running: boolean;
  readonly specHash: string | undefined;
}

export interface AdoptionPlan {
  /** Running with the wanted definition: keep as is (no restart, no duplicate). */
  readonly adopt: string[];
  /** Defined but stale (other definition) or stopped: remove and create again. */
  readonly recreate: string[];
  /** Wanted and not there at all. */
  readonly create: string[];
  /** There but no longer wanted: stop and remove (no orphan). */
  readonly remove: string[];
}

export function planAdoption(
  found: readonly Found[],
  wanted: Readonly<Record<string, string>>,
): AdoptionPlan {
  const plan: AdoptionPlan = { adopt: [], recreate: [], create: [], remove: [] };
  const seen = new Set<string>();
  for (const f of found) {
    seen.add(f.name);
    const hash = wanted[f.name];
    if (hash === undefined) plan.remove.push(f.name);
    else if (f.running && f.specHash === hash) plan.adopt.push(f.name);
    else plan.recreate.push(f.name);
  }
  for (const name of Object.keys(wanted)) if (!seen.has(name)) plan.create.push(name);
  for (const list of Object.values(plan)) list.sort();
  return plan;
}

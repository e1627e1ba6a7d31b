// Runs a set of containers: adoption of what already runs, groups started in order
// (platform before app) each waiting for its status goal, restart policies with exponential
// backoff, crash-loop detection and health checks. Decisions live in policy.ts; this file
// only observes the runtime and acts on them.
import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { canonicalJson, type ContainerSpec, type ContainerState, type ReasonCode } from '@fleet/protocol';
import type { ContainerRuntime, CreateRequest } from '../runtime/container-runtime.js';
import {
  decideRestart,
  initialHealth,
  nextHealth,
  planAdoption,
  startGroups,
  type HealthState,
  type HealthStatus,
} from './policy.js';

export const SPEC_HASH_LABEL = 'fleet.spec-hash';

export interface DesiredContainer {
  readonly name: string;
  readonly spec: ContainerSpec;
  readonly rootfs: CreateRequest['rootfs'];
  readonly volumes: CreateRequest['volumes'];
  /** Extra labels stored with the container (for example the revision). */
  readonly labels?: Readonly<Record<string, string>>;
}

export interface SupervisedStatus {
  readonly name: string;
  readonly state: ContainerState;
  readonly restarts: number;
  readonly health: HealthStatus | null;
  readonly lastExitCode: number | null;
  readonly initPid: number | null;
  readonly reason: string | null;
}

export type GoalResult =
  | { readonly ok: true }
  | { readonly ok: false; readonly container: string; readonly reason: ReasonCode; readonly message: string };

export interface SupervisorOptions {
  readonly runtime: ContainerRuntime;
  readonly pollIntervalMs?: number;
  /** A run this long forgives earlier crashes (restart counter back to 0). */
  readonly stableAfterMs?: number;
  readonly maxBackoffMs?: number;
  /** How long a group may take to reach its status goals. */
  readonly goalTimeoutMs?: number;
  readonly onChange?: (status: SupervisedStatus) => void;
  readonly now?: () => number;
}

interface Slot {
  readonly d: DesiredContainer;
  readonly hash: string;
  state: ContainerState;
  restarts: number;
  startedAt: number;
  health: HealthState;
  nextHealthAt: number;
  restartAt: number | null;
  lastExitCode: number | null;
  initPid: number | null;
  reason: string | null;
  reasonCode: ReasonCode | null;
  everStarted: boolean;
}

function isLive(s: Slot): boolean {
  return s.state === 'running' || s.state === 'ready' || s.state === 'unhealthy';
}

export function specHash(d: DesiredContainer): string {
  return createHash('sha256').update(canonicalJson({ spec: d.spec, rootfs: d.rootfs, volumes: d.volumes })).digest('hex');
}

export class Supervisor {
  private readonly slots = new Map<string, Slot>();
  private loop: Promise<void> | null = null;
  private loopAbort: AbortController | null = null;
  private readonly poll: number;
  private readonly now: () => number;

  constructor(private readonly o: SupervisorOptions) {
    this.poll = o.pollIntervalMs ?? 500;
    this.now = o.now ?? Date.now;
  }

  status(): SupervisedStatus[] {
    return [...this.slots.values()].map((s) => this.view(s)).sort((a, b) => a.name.localeCompare(b.name));
  }

  private view(s: Slot): SupervisedStatus {
    return {
      name: s.d.name,
      state: s.state,
      restarts: s.restarts,
      health: s.d.spec.health ? s.health.status : null,
      lastExitCode: s.lastExitCode,
      initPid: s.initPid,
      reason: s.reason,
    };
  }

  private set(s: Slot, state: ContainerState, reason: string | null = s.reason): void {
    const changed = s.state !== state || s.reason !== reason;
    s.state = state;
    s.reason = reason;
    if (changed) this.o.onChange?.(this.view(s));
  }

  /**
   * Make `desired` the running set: adopt what already runs with the same definition, remove
   * what is not wanted, then start groups in order, each waiting for its status goals.
   * Monitoring (restarts, health) keeps running in the background until `detach()`.
   */
  async run(desired: readonly DesiredContainer[], signal?: AbortSignal): Promise<GoalResult> {
    const rt = this.o.runtime;
    const byName = new Map(desired.map((d) => [d.name, d]));
    const hashes = Object.fromEntries(desired.map((d) => [d.name, specHash(d)]));
    const found = await rt.list();
    const plan = planAdoption(
      found.map((f) => ({ name: f.name, running: f.state === 'running' || f.state === 'frozen', specHash: f.labels[SPEC_HASH_LABEL] })),
      hashes,
    );
    for (const name of plan.remove) {
      await rt.remove(name);
      this.slots.delete(name);
    }
    for (const name of plan.recreate) await rt.remove(name);
    for (const name of [...this.slots.keys()]) if (!byName.has(name)) this.slots.delete(name);

    const now = this.now();
    for (const d of desired) {
      const adopted = plan.adopt.includes(d.name);
      const pid = adopted ? (found.find((f) => f.name === d.name)?.initPid ?? null) : null;
      this.slots.set(d.name, {
        d,
        hash: hashes[d.name]!,
        state: adopted ? 'running' : 'created',
        restarts: 0,
        startedAt: now,
        health: initialHealth,
        nextHealthAt: now,
        restartAt: null,
        lastExitCode: null,
        initPid: pid,
        reason: adopted ? 'adopted' : null,
        reasonCode: null,
        everStarted: adopted,
      });
      if (!adopted) {
        await rt.create({ name: d.name, spec: d.spec, rootfs: d.rootfs, volumes: d.volumes, labels: { ...(d.labels ?? {}), [SPEC_HASH_LABEL]: hashes[d.name]! } }, signal);
      }
    }
    this.ensureLoop();

    for (const group of startGroups(Object.fromEntries(desired.map((d) => [d.name, d.spec])))) {
      signal?.throwIfAborted();
      await Promise.all(group.map((n) => this.startSlot(this.slots.get(n)!)));
      const result = await this.waitGoals(group, signal);
      if (!result.ok) return result;
    }
    return { ok: true };
  }

  private async startSlot(s: Slot): Promise<void> {
    if (s.state === 'running' || s.state === 'ready') return;
    this.set(s, 'starting');
    try {
      const st = await this.o.runtime.start(s.d.name);
      s.startedAt = this.now();
      s.initPid = st.initPid;
      s.health = initialHealth;
      s.nextHealthAt = s.startedAt;
      s.everStarted = true;
      this.set(s, 'running', null);
    } catch (err) {
      // Counts as a failed run: the restart policy decides (a bad image ends as crash-loop).
      this.onExit(s, -1, `start failed: ${(err as Error).message}`);
    }
  }

  private onExit(s: Slot, code: number, why: string): void {
    s.lastExitCode = code;
    s.initPid = null;
    const decision = decideRestart(s.d.spec.restart, code, this.now() - s.startedAt, { restarts: s.restarts }, {
      stableAfterMs: this.o.stableAfterMs ?? 30_000,
      maxBackoffMs: this.o.maxBackoffMs ?? 300_000,
    });
    if (decision.action === 'restart') {
      s.restarts = decision.attempt;
      s.restartAt = this.now() + decision.delayMs;
      this.set(s, 'exited', `${why}; restart ${decision.attempt} in ${decision.delayMs} ms`);
    } else if (decision.action === 'give-up') {
      s.restartAt = null;
      s.reasonCode = 'crash-loop';
      this.set(s, 'crash-loop', `${why}; ${s.restarts} restarts did not help (restart.maxRetries=${s.d.spec.restart.maxRetries})`);
    } else {
      s.restartAt = null;
      this.set(s, 'exited', why);
    }
  }

  private async waitGoals(names: readonly string[], signal?: AbortSignal): Promise<GoalResult> {
    const deadline = this.now() + (this.o.goalTimeoutMs ?? 60_000);
    for (;;) {
      signal?.throwIfAborted();
      let pending = false;
      for (const n of names) {
        const s = this.slots.get(n)!;
        if (s.state === 'crash-loop') {
          return { ok: false, container: n, reason: 'crash-loop', message: `${n}: ${s.reason ?? 'crash loop'}` };
        }
        const reached = s.d.spec.statusGoal === 'ready' ? s.state === 'ready' : s.everStarted;
        if (!reached) pending = true;
      }
      if (!pending) return { ok: true };
      if (this.now() >= deadline) {
        const late = names.map((n) => this.slots.get(n)!).find((s) => !(s.d.spec.statusGoal === 'ready' ? s.state === 'ready' : s.everStarted))!;
        const unhealthy = late.d.spec.statusGoal === 'ready' && late.health.status === 'unhealthy';
        return {
          ok: false,
          container: late.d.name,
          reason: unhealthy ? 'health-check-failed' : late.everStarted ? 'status-goal-timeout' : 'container-start-failed',
          message: `${late.d.name} did not reach "${late.d.spec.statusGoal}" (state ${late.state}${late.reason ? `: ${late.reason}` : ''})`,
        };
      }
      await sleep(Math.min(this.poll, 100), undefined, signal ? { signal } : undefined);
    }
  }

  private ensureLoop(): void {
    if (this.loop) return;
    const ac = new AbortController();
    this.loopAbort = ac;
    this.loop = (async () => {
      while (!ac.signal.aborted) {
        await this.tick().catch(() => undefined);
        await sleep(this.poll, undefined, { signal: ac.signal }).catch(() => undefined);
      }
    })();
  }

  /** One observation pass over every container (single-flight: the loop awaits it). */
  async tick(): Promise<void> {
    await Promise.all([...this.slots.values()].map((s) => this.observe(s)));
  }

  private async observe(s: Slot): Promise<void> {
    const now = this.now();
    if (s.state === 'crash-loop' || s.state === 'stopping' || s.state === 'stopped' || s.state === 'starting' || s.state === 'created') return;
    if (s.state === 'exited') {
      if (s.restartAt !== null && now >= s.restartAt) {
        s.restartAt = null;
        await this.startSlot(s);
      }
      return;
    }
    const st = await this.o.runtime.state(s.d.name);
    if (st.state === 'stopped' || st.state === 'absent') {
      this.onExit(s, st.lastExit?.code ?? -1, `exited with code ${st.lastExit?.code ?? 'unknown'}`);
      return;
    }
    if (st.state === 'frozen') {
      this.set(s, 'frozen');
      return;
    }
    s.initPid = st.initPid;
    const hc = s.d.spec.health;
    if (!hc) {
      if (s.state !== 'running') this.set(s, 'running');
      return;
    }
    if (now < s.nextHealthAt) return;
    s.nextHealthAt = now + hc.intervalMs;
    const r = await this.o.runtime.exec(s.d.name, hc.exec, { timeoutMs: hc.timeoutMs }).catch(() => null);
    const passed = r !== null && r.exitCode === 0;
    s.health = nextHealth(s.health, passed, now - s.startedAt, hc);
    // The container may have been stopped while the check ran.
    if (this.slots.get(s.d.name) !== s || !isLive(s)) return;
    if (s.health.status === 'healthy') this.set(s, 'ready', null);
    else if (s.health.status === 'unhealthy') this.set(s, 'unhealthy', `health check failed ${s.health.consecutiveFailures} times${r ? ` (exit ${r.exitCode ?? 'timeout'})` : ''}`);
    else if (s.state !== 'running') this.set(s, 'running');
  }

  private slot(name: string): Slot {
    const s = this.slots.get(name);
    if (!s) throw new Error(`container ${name} is not supervised here`);
    return s;
  }

  /** Operator stop: stop signal, timeout, kill; not restarted until startContainer(). */
  async stopContainer(name: string, opts: { readonly timeoutMs?: number } = {}): Promise<void> {
    const s = this.slot(name);
    s.restartAt = null;
    this.set(s, 'stopping', 'stopped by request');
    await this.o.runtime.stop(name, opts);
    s.initPid = null;
    this.set(s, 'stopped', 'stopped by request');
  }

  /** Operator start: also the way out of a crash loop (the restart count starts over). */
  async startContainer(name: string): Promise<void> {
    const s = this.slot(name);
    const st = await this.o.runtime.state(name);
    if (st.state === 'running' || st.state === 'frozen') return;
    s.restarts = 0;
    s.restartAt = null;
    s.reasonCode = null;
    await this.startSlot(s);
  }

  async restartContainer(name: string): Promise<void> {
    await this.stopContainer(name);
    await this.startContainer(name);
  }

  /** Stop every container, app group first, then platform. */
  async stopAll(): Promise<void> {
    const groups = startGroups(Object.fromEntries([...this.slots.values()].map((s) => [s.d.name, s.d.spec]))).reverse();
    for (const group of groups) {
      await Promise.all(
        group.map(async (n) => {
          const s = this.slots.get(n)!;
          s.restartAt = null;
          this.set(s, 'stopping');
          await this.o.runtime.stop(n);
          this.set(s, 'stopped', null);
        }),
      );
    }
  }

  /** Stop watching; containers keep running (an agent restart adopts them). */
  async detach(): Promise<void> {
    this.loopAbort?.abort();
    await this.loop;
    this.loop = null;
  }
}

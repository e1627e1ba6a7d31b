// Runs containers: adoption of what already runs, groups started in order (platform before
// app) each waiting for its status goal, restart policies with exponential backoff, crash-loop
// detection and health checks. Two ways in: run(set) for a whole set (it owns the lxcpath), and
// per-container calls (create/start/stop/remove/waitGoals) for a caller that plans its own
// steps, the update engine. Decisions live in policy.ts; this file observes the runtime and
// acts on them.
import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { canonicalJson, type ContainerSpec, type ContainerState, type ReasonCode } from '@fleet/protocol';
import { RuntimeError, type ContainerRuntime, type CreateRequest } from '../runtime/container-runtime.js';
import {
  decideRestart,
  initialHealth,
  nextHealth,
  planAdoption,
  startGroups,
  type HealthState,
  type HealthStatus,
} from './policy.js';

/**
 * The supervisor's own adoption key: a hash of the whole definition it created (spec, rootfs,
 * volumes). Deliberately not `fleet.spec-hash`, which is the update engine's instance identity
 * (reconcile/instance.ts: the spec alone); one label, one meaning.
 */
export const DEFINITION_HASH_LABEL = 'fleet.definition-hash';

/** What supervising a container needs: its runtime name and its spec (policy, health, goal). */
export interface SupervisedContainer {
  readonly name: string;
  readonly spec: ContainerSpec;
}

export interface DesiredContainer extends SupervisedContainer {
  readonly rootfs: CreateRequest['rootfs'];
  readonly volumes: CreateRequest['volumes'];
  /** Extra labels stored with the container (for example the revision). */
  readonly labels?: Readonly<Record<string, string>>;
  /** Host side of `/run/fleet` (the update lock directory), see CreateRequest. */
  readonly updateLockDir?: string;
}

export interface SupervisedStatus {
  readonly name: string;
  readonly state: ContainerState;
  /** Restarts since the container last ran stably: what the crash-loop limit counts. */
  readonly restarts: number;
  /** Every restart the policy decided since the container was created or adopted (never goes down). */
  readonly totalRestarts: number;
  /** Exited and the restart policy will start it again after its backoff. */
  readonly restartPending: boolean;
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
  /**
   * Containers stopped on purpose outside the supervisor (an operator through the local API):
   * an exit is then recorded as `stopped`, not restarted.
   */
  readonly held?: (name: string) => boolean;
  readonly now?: () => number;
}

interface Slot {
  readonly d: SupervisedContainer;
  state: ContainerState;
  restarts: number;
  totalRestarts: number;
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

function newSlot(
  d: SupervisedContainer,
  now: number,
  running: { initPid: number | null; reason: string } | null,
): Slot {
  return {
    d,
    state: running ? 'running' : 'created',
    restarts: 0,
    totalRestarts: 0,
    startedAt: now,
    health: initialHealth,
    nextHealthAt: now,
    restartAt: null,
    lastExitCode: null,
    initPid: running?.initPid ?? null,
    reason: running?.reason ?? null,
    reasonCode: null,
    everStarted: running !== null,
  };
}

/** Whether a status goal is reached: `ready` needs a passing health check, `started` one start. */
function reached(s: Slot): boolean {
  return s.d.spec.statusGoal === 'ready' ? s.state === 'ready' : s.everStarted;
}

function isLive(s: Slot): boolean {
  return s.state === 'running' || s.state === 'ready' || s.state === 'unhealthy';
}

export function definitionHash(d: DesiredContainer): string {
  return createHash('sha256')
    .update(canonicalJson({ spec: d.spec, rootfs: d.rootfs, volumes: d.volumes }))
    .digest('hex');
}

export class Supervisor {
  private readonly slots = new Map<string, Slot>();
  // One operation at a time per container (start, stop, remove, an observation pass): a
  // policy restart must never interleave with the engine stopping or removing the container.
  private readonly queues = new Map<string, Promise<unknown>>();
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

  /** One container's status, or null when it is not supervised here. */
  statusOf(name: string): SupervisedStatus | null {
    const s = this.slots.get(name);
    return s ? this.view(s) : null;
  }

  has(name: string): boolean {
    return this.slots.has(name);
  }

  private view(s: Slot): SupervisedStatus {
    return {
      name: s.d.name,
      state: s.state,
      restarts: s.restarts,
      totalRestarts: s.totalRestarts,
      restartPending: s.restartAt !== null,
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
    if (changed && this.slots.get(s.d.name) === s) this.o.onChange?.(this.view(s));
  }

  private serial<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const next = (this.queues.get(name) ?? Promise.resolve()).catch(() => undefined).then(fn);
    this.queues.set(name, next);
    void next
      .finally(() => {
        if (this.queues.get(name) === next) this.queues.delete(name);
      })
      .catch(() => undefined);
    return next;
  }

  private createRequest(d: DesiredContainer): CreateRequest {
    return {
      name: d.name,
      spec: d.spec,
      rootfs: d.rootfs,
      volumes: d.volumes,
      // Set last: a caller label of the same name cannot change what adoption compares.
      labels: { ...(d.labels ?? {}), [DEFINITION_HASH_LABEL]: definitionHash(d) },
      ...(d.updateLockDir !== undefined ? { updateLockDir: d.updateLockDir } : {}),
    };
  }

  /**
   * Make `desired` the running set: adopt what already runs with the same definition, remove
   * what is not wanted, then start groups in order, each waiting for its status goals.
   * Monitoring (restarts, health) keeps running in the background until `detach()`.
   * It owns the whole lxcpath: anything else defined there is removed.
   */
  async run(desired: readonly DesiredContainer[], signal?: AbortSignal): Promise<GoalResult> {
    const rt = this.o.runtime;
    const byName = new Map(desired.map((d) => [d.name, d]));
    const hashes = Object.fromEntries(desired.map((d) => [d.name, definitionHash(d)]));
    const found = await rt.list();
    const plan = planAdoption(
      found.map((f) => ({
        name: f.name,
        running: f.state === 'running' || f.state === 'frozen',
        specHash: f.labels[DEFINITION_HASH_LABEL],
      })),
      hashes,
    );
    for (const name of plan.remove) {
      this.slots.delete(name);
      await this.serial(name, () => rt.remove(name));
    }
    for (const name of plan.recreate) await this.serial(name, () => rt.remove(name));
    for (const name of [...this.slots.keys()]) if (!byName.has(name)) this.slots.delete(name);

    for (const d of desired) {
      const adopted = plan.adopt.includes(d.name);
      const pid = adopted ? (found.find((f) => f.name === d.name)?.initPid ?? null) : null;
      this.slots.set(d.name, newSlot(d, this.now(), adopted ? { initPid: pid, reason: 'adopted' } : null));
      if (!adopted) await this.serial(d.name, () => rt.create(this.createRequest(d), signal));
    }
    this.ensureLoop();

    for (const group of startGroups(Object.fromEntries(desired.map((d) => [d.name, d.spec])))) {
      signal?.throwIfAborted();
      await Promise.all(group.map((n) => this.serial(n, () => this.startSlot(this.slots.get(n)!))));
      const result = await this.waitGoals(group, signal);
      if (!result.ok) return result;
    }
    return { ok: true };
  }

  /**
   * Define one container and supervise it (state `created` until start()). A container that
   * already runs with the same definition (same definition-hash label) is adopted instead, untouched.
   */
  async create(d: DesiredContainer, signal?: AbortSignal): Promise<void> {
    const req = this.createRequest(d);
    await this.serial(d.name, async () => {
      const st = await this.o.runtime.state(d.name);
      if (
        (st.state === 'running' || st.state === 'frozen') &&
        st.labels[DEFINITION_HASH_LABEL] === req.labels?.[DEFINITION_HASH_LABEL]
      ) {
        if (!this.slots.has(d.name))
          this.slots.set(d.name, newSlot(d, this.now(), { initPid: st.initPid, reason: 'adopted' }));
        return;
      }
      await this.o.runtime.create(req, signal);
      this.slots.set(d.name, newSlot(d, this.now(), null));
    });
    this.ensureLoop();
  }

  /**
   * Supervise a container that is already defined (an agent restarted while it ran): running
   * → watched as `running` with its init pid, otherwise `exited`, left to whoever starts it.
   * No-op when it is supervised already.
   */
  async adopt(c: SupervisedContainer): Promise<void> {
    await this.serial(c.name, async () => {
      if (this.slots.has(c.name)) return;
      const st = await this.o.runtime.state(c.name);
      if (st.state === 'absent') throw new RuntimeError(`cannot adopt ${c.name}: it is not defined`);
      const up = st.state === 'running' || st.state === 'frozen' || st.state === 'starting';
      const s = newSlot(c, this.now(), up ? { initPid: st.initPid, reason: 'adopted' } : null);
      if (!up) {
        s.state = 'exited';
        s.lastExitCode = st.lastExit?.code ?? null;
      }
      this.slots.set(c.name, s);
    });
    this.ensureLoop();
  }

  /** Start a supervised container (a fresh start: the crash-loop count starts over). */
  async start(name: string): Promise<SupervisedStatus> {
    const s = this.slot(name);
    await this.serial(name, () => this.freshStart(s));
    this.ensureLoop();
    return this.view(s);
  }

  /** Stop with the stop signal, then `timeoutMs` (default: the spec's), then kill. Not restarted until start(). */
  async stop(name: string, timeoutMs?: number): Promise<void> {
    const s = this.slots.get(name);
    await this.serial(name, async () => {
      if (!s) {
        await this.o.runtime.stop(name, timeoutMs !== undefined ? { timeoutMs } : {});
        return;
      }
      await this.stopSlot(s, timeoutMs !== undefined ? { timeoutMs } : {});
    });
  }

  /** Stop if needed, delete the definition and stop supervising it. */
  async remove(name: string): Promise<void> {
    await this.serial(name, async () => {
      this.slots.delete(name);
      await this.o.runtime.remove(name);
    });
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

  private async freshStart(s: Slot): Promise<void> {
    const st = await this.o.runtime.state(s.d.name);
    s.restarts = 0;
    s.restartAt = null;
    s.reasonCode = null;
    if (st.state === 'running' || st.state === 'frozen') {
      if (!isLive(s)) {
        s.startedAt = this.now();
        s.initPid = st.initPid;
        s.everStarted = true;
        this.set(s, 'running', null);
      }
      return;
    }
    s.state = 'created';
    await this.startSlot(s);
  }

  private async stopSlot(s: Slot, opts: { readonly timeoutMs?: number }): Promise<void> {
    s.restartAt = null;
    this.set(s, 'stopping', 'stopped by request');
    try {
      await this.o.runtime.stop(s.d.name, opts);
    } finally {
      s.initPid = null;
      this.set(s, 'stopped', 'stopped by request');
    }
  }

  private onExit(s: Slot, code: number, why: string): void {
    s.lastExitCode = code;
    s.initPid = null;
    if (this.o.held?.(s.d.name)) {
      s.restartAt = null;
      this.set(s, 'stopped', `${why}; held stopped`);
      return;
    }
    const decision = decideRestart(
      s.d.spec.restart,
      code,
      this.now() - s.startedAt,
      { restarts: s.restarts },
      {
        stableAfterMs: this.o.stableAfterMs ?? 30_000,
        maxBackoffMs: this.o.maxBackoffMs ?? 300_000,
      },
    );
    if (decision.action === 'restart') {
      // Counted when decided, not when done: an exit waiting out its backoff is already a
      // restart to whoever compares counts (the health gate's bake).
      s.totalRestarts++;
      s.restarts = decision.attempt;
      s.restartAt = this.now() + decision.delayMs;
      this.set(s, 'exited', `${why}; restart ${decision.attempt} in ${decision.delayMs} ms`);
    } else if (decision.action === 'give-up') {
      s.restartAt = null;
      s.reasonCode = 'crash-loop';
      this.set(
        s,
        'crash-loop',
        `${why}; ${s.restarts} restarts did not help (restart.maxRetries=${s.d.spec.restart.maxRetries})`,
      );
    } else {
      s.restartAt = null;
      this.set(s, 'exited', why);
    }
  }

  /**
   * Wait until every named container reached its status goal. Fails at once on a crash loop
   * (`container-start-failed` when it never started at all) or on an exit its restart policy
   * leaves alone; otherwise after `timeoutMs` (default: the `goalTimeoutMs` option).
   */
  async waitGoals(
    names: readonly string[],
    signal?: AbortSignal,
    opts: { readonly timeoutMs?: number } = {},
  ): Promise<GoalResult> {
    const deadline = this.now() + (opts.timeoutMs ?? this.o.goalTimeoutMs ?? 60_000);
    for (;;) {
      signal?.throwIfAborted();
      let pending = false;
      for (const n of names) {
        const s = this.slots.get(n);
        if (!s)
          return {
            ok: false,
            container: n,
            reason: 'container-start-failed',
            message: `${n} is not supervised (removed or never created)`,
          };
        if (s.state === 'crash-loop') {
          return {
            ok: false,
            container: n,
            reason: s.everStarted ? 'crash-loop' : 'container-start-failed',
            message: `${n}: ${s.reason ?? 'crash loop'}`,
          };
        }
        if (reached(s)) continue;
        if (s.state === 'exited' && s.restartAt === null) {
          return {
            ok: false,
            container: n,
            reason: 'container-start-failed',
            message: `${n} ${s.reason ?? 'exited'} before reaching "${s.d.spec.statusGoal}" and restart policy "${s.d.spec.restart.policy}" leaves it`,
          };
        }
        pending = true;
      }
      if (!pending) return { ok: true };
      if (this.now() >= deadline) {
        const late = names.map((n) => this.slots.get(n)!).find((s) => !reached(s))!;
        const unhealthy = late.d.spec.statusGoal === 'ready' && late.health.status === 'unhealthy';
        return {
          ok: false,
          container: late.d.name,
          reason: unhealthy
            ? 'health-check-failed'
            : late.everStarted
              ? 'status-goal-timeout'
              : 'container-start-failed',
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
        // Unref'd: a supervisor nobody detached must not keep the process alive.
        await sleep(this.poll, undefined, { signal: ac.signal, ref: false }).catch(() => undefined);
      }
    })();
  }

  /**
   * One observation pass over every container. A container with an operation queued or
   * running (the engine stopping it, a start) is skipped this pass rather than waited for, so
   * a long stop of one container does not delay the restarts of the others.
   */
  async tick(): Promise<void> {
    await Promise.all(
      [...this.slots.values()]
        .filter((s) => !this.queues.has(s.d.name))
        .map((s) => this.serial(s.d.name, () => this.observe(s))),
    );
  }

  /**
   * Observe the named containers now (queued behind any operation on them), so a status read
   * right after reflects the runtime, not the last pass of the loop: the health gate commits
   * on what it reads.
   */
  async refresh(names: readonly string[]): Promise<void> {
    await Promise.all(
      names.map((n) => {
        const s = this.slots.get(n);
        return s ? this.serial(n, () => this.observe(s)) : Promise.resolve();
      }),
    );
  }

  private async observe(s: Slot): Promise<void> {
    const name = s.d.name;
    if (this.slots.get(name) !== s) return;
    if (s.state === 'starting' || s.state === 'stopping' || s.state === 'created') return;
    const now = this.now();
    const st = await this.o.runtime.state(name);
    const up = st.state === 'running' || st.state === 'starting' || st.state === 'frozen';
    const watching = isLive(s) || s.state === 'frozen';
    if (!watching) {
      if (up) {
        // Started by someone else (the local API, lxc-start): watch it again.
        s.startedAt = now;
        s.initPid = st.initPid;
        s.health = initialHealth;
        s.nextHealthAt = now;
        s.restartAt = null;
        s.reasonCode = null;
        s.everStarted = true;
        this.set(s, 'running', 'started outside the supervisor');
        return;
      }
      if (s.state === 'exited' && s.restartAt !== null && now >= s.restartAt) {
        s.restartAt = null;
        if (this.o.held?.(name)) {
          this.set(s, 'stopped', 'held stopped');
          return;
        }
        await this.startSlot(s);
      }
      return;
    }
    if (!up) {
      this.onExit(s, st.lastExit?.code ?? -1, `exited with code ${st.lastExit?.code ?? 'unknown'}`);
      return;
    }
    if (st.state === 'frozen') {
      this.set(s, 'frozen');
      return;
    }
    if (s.state === 'frozen') this.set(s, 'running');
    s.initPid = st.initPid;
    const hc = s.d.spec.health;
    if (!hc) {
      if (s.state !== 'running') this.set(s, 'running');
      return;
    }
    if (now < s.nextHealthAt) return;
    s.nextHealthAt = now + hc.intervalMs;
    const r = await this.o.runtime.exec(name, hc.exec, { timeoutMs: hc.timeoutMs }).catch(() => null);
    const passed = r !== null && r.exitCode === 0;
    s.health = nextHealth(s.health, passed, now - s.startedAt, hc);
    if (!isLive(s)) return;
    if (s.health.status === 'healthy') this.set(s, 'ready', null);
    else if (s.health.status === 'unhealthy')
      this.set(
        s,
        'unhealthy',
        `health check failed ${s.health.consecutiveFailures} times${r ? ` (exit ${r.exitCode ?? 'timeout'})` : ''}`,
      );
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
    await this.serial(name, () => this.stopSlot(s, opts));
  }

  /** Operator start: also the way out of a crash loop (the restart count starts over). */
  async startContainer(name: string): Promise<void> {
    await this.start(name);
  }

  async restartContainer(name: string): Promise<void> {
    const s = this.slot(name);
    await this.serial(name, async () => {
      await this.stopSlot(s, {});
      await this.freshStart(s);
    });
  }

  /** Stop every container, app group first, then platform. */
  async stopAll(): Promise<void> {
    const groups = startGroups(
      Object.fromEntries([...this.slots.values()].map((s) => [s.d.name, s.d.spec])),
    ).reverse();
    for (const group of groups) {
      await Promise.all(
        group.map((n) =>
          this.serial(n, async () => {
            const s = this.slots.get(n);
            if (!s) return;
            s.restartAt = null;
            this.set(s, 'stopping');
            await this.o.runtime.stop(n);
            this.set(s, 'stopped', null);
          }),
        ),
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

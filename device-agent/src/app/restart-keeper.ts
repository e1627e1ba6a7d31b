// Restart policies for the committed revision's containers while no update runs. The update
// engine creates and starts instances (RuntimeContainers) and judges them during its health
// gate; between updates nothing else would notice a workload that exited. The decisions are the
// supervisor's pure policy (decideRestart: never / on-failure / always, exponential backoff,
// crash loop after maxRetries); the Supervisor class itself is not used because its run(set)
// adopts and recreates by its own spec hash, which would fight the engine's instances.
import type { RestartPolicy } from '@fleet/protocol';
import { LABEL_CONTAINER, LABEL_REVISION } from '../reconcile/index.js';
import type { ContainerRuntime } from '../runtime/container-runtime.js';
import { decideRestart } from '../supervisor/policy.js';
import type { ExclusiveRunner } from '../update/exclusive-runner.js';

export interface RestartKeeperDeps {
  readonly runtime: ContainerRuntime;
  readonly runner: ExclusiveRunner;
  /** The committed revision id, or null on a fresh device. */
  readonly committed: () => Promise<string | null>;
  /** A container's restart policy in a stored revision. */
  readonly policyOf: (revision: string, container: string) => Promise<RestartPolicy | null>;
  /** True only when no update is in flight (the engine owns containers during an update). */
  readonly idle: () => boolean;
  /** Instances an operator stopped on purpose (local API): left alone. */
  readonly held: (instance: string) => boolean;
  readonly log: (level: 'info' | 'warn', msg: string) => void;
  readonly onChange: () => void;
  readonly now?: () => number;
  readonly stableAfterMs?: number;
  readonly maxBackoffMs?: number;
}

interface Track {
  restarts: number;
  runningSince: number | null;
  restartAt: number | null;
  crashLoop: boolean;
}

export class RestartKeeper {
  private readonly tracks = new Map<string, Track>();
  private busy = false;

  constructor(private readonly d: RestartKeeperDeps) {}

  /** Restarts done for an instance since the agent started (reports), and whether it gave up. */
  stateOf(instance: string): { restarts: number; crashLoop: boolean } {
    const t = this.tracks.get(instance);
    return { restarts: t?.restarts ?? 0, crashLoop: t?.crashLoop ?? false };
  }

  /** One pass; called from a timer. Never overlaps itself. */
  async tick(): Promise<void> {
    if (this.busy || !this.d.idle()) return;
    this.busy = true;
    try {
      await this.pass();
    } finally {
      this.busy = false;
    }
  }

  private async pass(): Promise<void> {
    const now = (this.d.now ?? Date.now)();
    const committed = await this.d.committed();
    if (!committed) return;
    const all = await this.d.runtime.list();
    const live = new Set(all.map((c) => c.name));
    for (const k of [...this.tracks.keys()]) if (!live.has(k)) this.tracks.delete(k);
    for (const c of all) {
      const container = c.labels[LABEL_CONTAINER];
      if (!container || c.labels[LABEL_REVISION] !== committed) continue;
      let t = this.tracks.get(c.name);
      if (!t) {
        t = {
          restarts: 0,
          runningSince: c.state === 'running' ? now : null,
          restartAt: null,
          crashLoop: false,
        };
        this.tracks.set(c.name, t);
      }
      if (c.state === 'running' || c.state === 'starting' || c.state === 'frozen') {
        t.runningSince ??= now;
        t.restartAt = null;
        continue;
      }
      if (c.state !== 'stopped' || t.crashLoop || this.d.held(c.name)) continue;
      if (t.restartAt === null) {
        const policy = await this.d.policyOf(committed, container);
        if (!policy) continue;
        const code = c.lastExit?.code ?? 0;
        const ran = t.runningSince === null ? 0 : now - t.runningSince;
        const decision = decideRestart(
          policy,
          code,
          ran,
          { restarts: t.restarts },
          { stableAfterMs: this.d.stableAfterMs ?? 10_000, maxBackoffMs: this.d.maxBackoffMs ?? 60_000 },
        );
        t.runningSince = null;
        if (decision.action === 'leave') {
          t.crashLoop = false;
          t.restartAt = Number.POSITIVE_INFINITY;
          continue;
        }
        if (decision.action === 'give-up') {
          t.crashLoop = true;
          this.d.log(
            'warn',
            `${container} (${c.name}) exited ${code} too often: crash loop, no more restarts`,
          );
          this.d.onChange();
          continue;
        }
        if (ran >= (this.d.stableAfterMs ?? 10_000)) t.restarts = 0;
        t.restartAt = now + decision.delayMs;
        continue;
      }
      if (now < t.restartAt) continue;
      t.restartAt = null;
      t.restarts++;
      await this.d.runner
        .run(`keeper:restart:${c.name}`, async () => {
          // Checked again inside the runner: an update admitted meanwhile owns the containers.
          if (!this.d.idle() || (await this.d.committed()) !== committed) return;
          const st = await this.d.runtime.state(c.name);
          if (st.state !== 'stopped') return;
          this.d.log(
            'info',
            `restarting ${container} (${c.name}) after exit ${c.lastExit?.code ?? '?'} (restart ${t.restarts})`,
          );
          await this.d.runtime.start(c.name);
        })
        .catch((e: Error) => this.d.log('warn', `restart of ${c.name} failed: ${e.message}`));
      this.d.onChange();
    }
  }
}

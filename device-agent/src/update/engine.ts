// The update engine: drives the state table, persists the journal before each state, resumes
// after restarts, and takes targets from the hub (or the local API) one at a time.
import {
  REPORTED_STATUS_OF,
  type Progress,
  type ReasonCode,
  type RevisionRef,
  type Target,
  type UpdateState,
} from '@fleet/protocol';
import { apply, plan } from '../reconcile/index.js';
import { noCrash, type CrashHook } from './crash-points.js';
import type { ExclusiveRunner } from './exclusive-runner.js';
import { HALT, HANDLERS, verifyContextOf, type EngineSettings, type HandlerContext } from './handlers.js';
import {
  idleJournal,
  readJournal,
  writeJournal,
  type Journal,
  type JournalUpdate,
  type LastOutcome,
} from './journal.js';
import { Ledger } from './ledger.js';
import type { AgentIdentity, UpdateDeps } from './ports.js';
import { effectiveManifest, revisionId, revisionRef } from './revision.js';
import {
  MAX_RESUMES,
  nextState,
  ON_RESUME_LIMIT,
  RESUME,
  STATE_PERCENT,
  SUPERSEDABLE,
  terminalStatus,
  type Outcome,
} from './transitions.js';
import { verifyTarget } from './verify.js';

export class Superseded extends Error {
  override readonly name = 'Superseded';
  constructor(readonly by: string) {
    super(`superseded by update ${by}`);
  }
}

export interface EngineOptions {
  readonly identity: AgentIdentity;
  readonly runner: ExclusiveRunner;
  readonly crashHook?: CrashHook;
  readonly settings?: Partial<EngineSettings>;
  readonly maxResumes?: number;
}

export const DEFAULT_SETTINGS: EngineSettings = {
  gate: { goalTimeoutMs: 120_000, pollMs: 1_000, hubTimeoutMs: 120_000 },
  maxDeferralMs: 6 * 3600_000,
  lockPollMs: 10_000,
  windowPollMs: 60_000,
  spaceReserveBytes: 64 * 1024 * 1024,
};

export type OfferResult =
  | { readonly accepted: true; readonly queued: boolean }
  | { readonly accepted: false; readonly reason: ReasonCode | 'duplicate'; readonly message: string };

export class UpdateEngine {
  private journal: Journal = idleJournal();
  private readonly ledger: Ledger;
  private readonly settings: EngineSettings;
  private readonly crash: CrashHook;
  private readonly maxResumes: number;
  private pending: Target | null = null;
  private admitting: Target | null = null;
  private handlerAbort: AbortController | null = null;
  private readonly lifetime = new AbortController();
  private driving: Promise<void> | null = null;
  private halted = false;
  private writes: Promise<void> = Promise.resolve();

  constructor(
    private readonly deps: UpdateDeps,
    private readonly opts: EngineOptions,
  ) {
    this.ledger = new Ledger(deps.files);
    this.settings = {
      ...DEFAULT_SETTINGS,
      ...opts.settings,
      gate: { ...DEFAULT_SETTINGS.gate, ...opts.settings?.gate },
    };
    this.crash = opts.crashHook ?? noCrash;
    this.maxResumes = opts.maxResumes ?? MAX_RESUMES;
  }

  get state(): UpdateState {
    return this.journal.state;
  }

  /** True once a handler asked for a reboot: this process has nothing more to do. */
  get rebootRequested(): boolean {
    return this.halted;
  }

  get snapshot(): Readonly<Journal> {
    return this.journal;
  }

  /** The update fields of protocol's `Report`: committed revision, state, failed releases. */
  async reportView(): Promise<{
    revision: RevisionRef | null;
    updateState: UpdateState;
    failedRevisions: string[];
  }> {
    const cur = await this.ledger.current();
    return {
      revision: cur
        ? {
            digest: cur.committed.releaseDigest,
            version: cur.committed.version,
            sequence: cur.committed.sequence,
          }
        : null,
      updateState: this.journal.state,
      failedRevisions: await this.ledger.failedReleases(),
    };
  }

  /**
   * Startup: read the journal and pick up where the last process stopped (RESUME, loop guard);
   * an unreadable journal rolls back to the committed revision. Resolves once the resumed
   * state is persisted and driving has begun (an update may then run for hours, e.g. waiting
   * for its window); `settled()` waits for the end.
   */
  async start(): Promise<void> {
    const read = await readJournal(this.deps.files);
    if (!read.ok) {
      this.deps.log?.('error', `${read.error}: recovering to the committed revision`);
      this.journal = { ...idleJournal(), state: 'idle' };
      await this.enter('rolling-back', {
        update: null,
        failure: { reason: 'journal-corrupt', message: read.error },
      });
    } else {
      this.journal = read.journal;
      const was = read.journal.state;
      if (was === 'idle') {
        await this.runner('update:startup-reconcile', () => this.reconcileCommitted()).catch((e) =>
          this.deps.log?.(
            'error',
            `startup reconcile to the committed revision failed: ${e instanceof Error ? e.message : String(e)}`,
          ),
        );
        await this.resendOutcome();
      } else {
        const count = (read.journal.resumes[was] ?? 0) + 1;
        const resumes = { ...read.journal.resumes, [was]: count };
        if (count > this.maxResumes) {
          const to = ON_RESUME_LIMIT[was];
          const failure = {
            reason: 'internal-error' as const,
            message: `the agent restarted ${count} times in ${was}`,
          };
          this.deps.log?.('error', `loop guard: ${failure.message}; going to ${to}`);
          if (to === 'idle') await this.finish(was, { event: 'failed', ...failure });
          else await this.enter(to, { resumes, failure });
        } else {
          const to = RESUME[was];
          const failure =
            was === 'installing'
              ? {
                  failure: {
                    reason: 'install-failed' as const,
                    message: 'the agent restarted while installing (crash or power cut)',
                  },
                }
              : {};
          await this.enter(to, { resumes, ...failure });
        }
      }
    }
    this.kick();
  }

  /** Stop driving (agent shutdown). The journal keeps the state; the next start resumes it. */
  async stop(): Promise<void> {
    this.lifetime.abort(new Error('agent stopping'));
    this.handlerAbort?.abort(this.lifetime.signal.reason);
    await this.driving?.catch(() => {});
  }

  /** Resolves when nothing is in flight or queued (or the engine halted for a reboot). */
  async settled(): Promise<void> {
    while (this.driving) await this.driving;
  }

  /**
   * A target from the hub or the local API. A newer target supersedes one that has not started
   * installing; once installing it waits for the running update to finish (a commit is never
   * interrupted). Refusals are decided later, in order, and reported as progress.
   */
  offer(target: Target): OfferResult {
    const u = this.journal.update;
    const id = revisionId(target.release, target.config);
    if (u && (u.target.updateId === target.updateId || u.to === id)) {
      return {
        accepted: false,
        reason: 'duplicate',
        message: `update ${target.updateId} is already in flight`,
      };
    }
    if (this.pending?.updateId === target.updateId || this.admitting?.updateId === target.updateId) {
      return { accepted: false, reason: 'duplicate', message: `update ${target.updateId} is already queued` };
    }
    if (this.pending) this.reportSuperseded(this.pending, target.updateId);
    this.pending = target;
    const s = this.journal.state;
    if (SUPERSEDABLE.has(s)) this.handlerAbort?.abort(new Superseded(target.updateId));
    this.kick();
    return { accepted: true, queued: s !== 'idle' };
  }

  private kick(): void {
    if (this.driving || this.halted || this.lifetime.signal.aborted) return;
    this.driving = this.drive()
      .catch((e) =>
        this.deps.log?.('error', `update engine stopped: ${e instanceof Error ? e.stack : String(e)}`),
      )
      .finally(() => {
        this.driving = null;
        // A target offered while the loop was finishing found it still "driving": pick it up.
        if (this.pending) this.kick();
      });
  }

  private runner<T>(label: string, job: () => Promise<T>): Promise<T> {
    return this.opts.runner.run(label, job, this.lifetime.signal);
  }

  private async drive(): Promise<void> {
    while (!this.halted && !this.lifetime.signal.aborted) {
      if (this.journal.state === 'idle') {
        const next = this.pending;
        this.pending = null;
        if (!next) return;
        this.admitting = next;
        try {
          await this.admit(next);
        } finally {
          this.admitting = null;
        }
        continue;
      }
      await this.step();
    }
  }

  private async admit(target: Target): Promise<void> {
    const v = await this.runner('update:admit', async () =>
      verifyTarget(target, await verifyContextOf(this.handlerCtxBase())),
    );
    const revision = revisionRef(target.release);
    if (!v.ok) {
      // Refused before anything on the device changed: no journal entry, only the report.
      this.deps.log?.('warn', `update ${target.updateId} refused: ${v.error.reason}: ${v.error.message}`);
      this.report({
        updateId: target.updateId,
        revision,
        state: 'idle',
        status: 'failed',
        percent: 100,
        reason: v.error.reason,
        message: v.error.message,
      });
      return;
    }
    if (v.value.kind === 'none') {
      this.report({
        updateId: target.updateId,
        revision,
        state: 'idle',
        status: 'succeeded',
        percent: 100,
        message: 'the device already runs this revision',
      });
      return;
    }
    const current = await this.ledger.current();
    const update: JournalUpdate = {
      target,
      key: v.value.key,
      revision,
      to: v.value.revision,
      from: current?.committed.revision ?? null,
      kind: v.value.kind,
    };
    await this.enter('downloading', { update, resumes: {} });
  }

  private handlerCtxBase() {
    return { deps: this.deps, identity: this.opts.identity, ledger: this.ledger };
  }

  private async step(): Promise<void> {
    const state = this.journal.state as Exclude<UpdateState, 'idle'>;
    const abort = new AbortController();
    this.handlerAbort = abort;
    const onStop = () => abort.abort(this.lifetime.signal.reason);
    this.lifetime.signal.addEventListener('abort', onStop, { once: true });
    const ctx: HandlerContext = {
      ...this.handlerCtxBase(),
      settings: this.settings,
      update: this.journal.update,
      signal: abort.signal,
      persist: async (patch) => {
        if (!this.journal.update) return;
        await this.write({ ...this.journal, update: { ...this.journal.update, ...patch } });
      },
      progress: (percent, extra) => this.progress(state, percent, extra),
    };
    let outcome: Outcome<typeof state> | typeof HALT;
    try {
      // `waiting` only sleeps and reads: it runs outside the runner so local API work is not
      // blocked for hours by a maintenance window.
      const handler = HANDLERS[state] as (c: HandlerContext) => Promise<Outcome<typeof state> | typeof HALT>;
      outcome =
        state === 'waiting' ? await handler(ctx) : await this.runner(`update:${state}`, () => handler(ctx));
    } catch (e) {
      if (abort.signal.aborted && abort.signal.reason instanceof Superseded && SUPERSEDABLE.has(state)) {
        outcome = {
          event: 'superseded',
          reason: 'superseded',
          message: abort.signal.reason.message,
        } as Outcome<typeof state>;
      } else if (this.lifetime.signal.aborted) {
        return;
      } else {
        // An unexpected error is handled like a crash of the agent in this state: resume it
        // (RESUME), counted by the loop guard.
        this.deps.log?.(
          'error',
          `update state ${state} failed unexpectedly: ${e instanceof Error ? e.message : String(e)}`,
        );
        await this.resumeAfterError(state, e);
        return;
      }
    } finally {
      this.lifetime.signal.removeEventListener('abort', onStop);
      this.handlerAbort = null;
    }
    if (outcome === HALT) {
      this.halted = true;
      return;
    }
    await this.transition(state, outcome);
  }

  private async resumeAfterError(state: UpdateState, e: unknown): Promise<void> {
    const count = (this.journal.resumes[state] ?? 0) + 1;
    const resumes = { ...this.journal.resumes, [state]: count };
    const failure = {
      reason: 'internal-error' as const,
      message: `${state}: ${e instanceof Error ? e.message : String(e)}`,
    };
    const to = count > this.maxResumes ? ON_RESUME_LIMIT[state] : RESUME[state];
    // Back off a little so a transient fault (a busy runtime, a full disk being cleaned) can pass.
    await this.deps.clock.sleep(1_000 * count, this.lifetime.signal).catch(() => {});
    if (this.lifetime.signal.aborted) return;
    if (to === 'idle') await this.finish(state, { event: 'failed', ...failure });
    else
      await this.enter(to, {
        resumes,
        ...(to === 'rolling-back' && !this.journal.update?.failure ? { failure } : {}),
      });
  }

  private async transition<S extends UpdateState>(from: S, outcome: Outcome<S>): Promise<void> {
    const to = nextState(from, outcome.event);
    if (to === 'idle') return this.finish(from, outcome);
    const failure =
      to === 'rolling-back' && outcome.reason
        ? {
            failure: {
              ...this.journal.update?.failure,
              reason: outcome.reason,
              message: outcome.message ?? outcome.reason,
            },
          }
        : {};
    await this.enter(to, failure);
  }

  /** Persist, then enter: the journal names a state before any of its work can happen. */
  private async enter(
    state: UpdateState,
    patch: {
      update?: JournalUpdate | null;
      resumes?: Journal['resumes'];
      failure?: JournalUpdate['failure'];
    },
  ): Promise<void> {
    this.crash(state, 'before');
    const base = patch.update !== undefined ? patch.update : this.journal.update;
    const update = base && patch.failure ? { ...base, failure: patch.failure } : base;
    await this.write({
      ...this.journal,
      state,
      update,
      resumes: patch.resumes ?? this.journal.resumes,
      // Recovery from an unreadable journal has no update to hang the reason on.
      ...(!update && patch.failure ? { recovery: patch.failure } : {}),
    });
    this.crash(state, 'after');
    // `waiting` reports `deferred` only when something really defers the install (handler).
    if (state !== 'waiting') this.progress(state, STATE_PERCENT[state]);
  }

  private async finish(
    from: UpdateState,
    outcome: { event: string; reason?: ReasonCode; message?: string },
  ): Promise<void> {
    const u = this.journal.update;
    const status = terminalStatus(from, outcome.event);
    const failure = u?.failure ?? this.journal.recovery;
    if (u && (status === 'rolled-back' || (from === 'rolling-back' && status === 'failed')))
      await this.ledger.markFailed(u.key);
    if (u && status === 'succeeded' && u.target.force) await this.ledger.clearFailed(u.key);
    const reason = status === 'succeeded' ? undefined : (failure?.reason ?? outcome.reason);
    const message =
      status === 'succeeded'
        ? undefined
        : [failure?.message, outcome.message].filter(Boolean).join('; then: ') || undefined;
    const last: LastOutcome | undefined = u
      ? {
          updateId: u.target.updateId,
          revision: u.revision,
          status,
          ...(reason ? { reason } : {}),
          ...(message ? { message } : {}),
          ...(failure?.failedBootLog && status !== 'succeeded'
            ? { failedBootLog: failure.failedBootLog }
            : {}),
          reported: false,
        }
      : this.journal.lastOutcome;
    if (!u && failure)
      this.deps.log?.('warn', `recovered to the committed revision (${failure.reason}: ${failure.message})`);
    this.crash('idle', 'before');
    await this.write(idleJournal({ writes: this.journal.writes, ...(last ? { lastOutcome: last } : {}) }));
    this.crash('idle', 'after');
    await this.resendOutcome();
  }

  /** Reports the last outcome if it was not handed to link/ yet (also after a restart). */
  private async resendOutcome(): Promise<void> {
    const o = this.journal.lastOutcome;
    if (!o || o.reported) return;
    this.report({
      updateId: o.updateId,
      revision: o.revision,
      state: 'idle',
      status: o.status,
      percent: 100,
      ...(o.reason ? { reason: o.reason } : {}),
      ...(o.message ? { message: o.message.slice(0, 4096) } : {}),
      ...(o.failedBootLog ? { failedBootLog: o.failedBootLog } : {}),
    });
    // If this write is lost (crash), the outcome is reported once more after the restart;
    // the hub deduplicates by updateId and status.
    await this.write({ ...this.journal, lastOutcome: { ...o, reported: true } });
  }

  /**
   * Every journal write goes through here, one at a time, and the in-memory journal is the
   * one that reached the disk. Two overlapping writes could otherwise land in the wrong
   * order and bring an old state back (the torture test found exactly that).
   */
  private write(next: Journal): Promise<void> {
    const done = this.writes.then(async () => {
      this.journal = await writeJournal(this.deps.files, next);
    });
    this.writes = done.catch(() => undefined);
    return done;
  }

  /** Idle startup: exactly the committed revision's containers, nothing left from a crash. */
  private async reconcileCommitted(): Promise<void> {
    const cur = await this.ledger.current();
    const rev = cur ? await this.deps.revisions.get(cur.committed.revision) : null;
    if (cur && !rev) throw new Error(`committed revision ${cur.committed.revision} is not in the store`);
    const observed = await this.deps.containers.observe();
    const steps = plan(null, rev ? effectiveManifest(rev) : { containers: {} }, {
      revision: cur?.committed.revision ?? 'none',
      observed,
    });
    await apply(steps, this.deps.containers.executors, this.lifetime.signal);
  }

  private progress(
    state: UpdateState,
    percent: number,
    extra: { message?: string; bytesDone?: number; bytesTotal?: number; reason?: ReasonCode } = {},
  ): void {
    const u = this.journal.update;
    const status = REPORTED_STATUS_OF[state];
    if (!u || !status) return;
    this.report({
      updateId: u.target.updateId,
      revision: u.revision,
      state,
      status,
      percent: Math.max(0, Math.min(100, Math.round(percent))),
      ...((extra.reason ?? u.failure?.reason) ? { reason: extra.reason ?? u.failure?.reason } : {}),
      ...extra,
    });
  }

  private reportSuperseded(t: Target, by: string): void {
    this.report({
      updateId: t.updateId,
      revision: revisionRef(t.release),
      state: 'idle',
      status: 'failed',
      percent: 100,
      reason: 'superseded',
      message: `superseded by update ${by} before it started`,
    });
  }

  private report(p: Progress): void {
    // The wire schema caps these; an over-long message must not cost the whole report.
    const capped: Progress = {
      ...p,
      ...(p.message !== undefined ? { message: p.message.slice(0, 4096) } : {}),
      ...(p.failedBootLog !== undefined ? { failedBootLog: p.failedBootLog.slice(-64 * 1024) } : {}),
    };
    try {
      this.deps.report(capped);
    } catch (e) {
      this.deps.log?.('warn', `progress report dropped: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
}

// One handler per state. A handler does the state's work and returns an event from the table
// in transitions.ts; it never chooses the next state. Every handler is safe to run again from
// the start after a crash in the middle of it (see RESUME).
import { manifestObjects, type ReasonCode, type RevisionManifest, type UpdateState } from '@fleet/protocol';
import { apply, plan, StepFailed, type Step } from '../reconcile/index.js';
import { healthGate, type GateOptions } from './health-gate.js';
import type { JournalUpdate } from './journal.js';
import type { Current, Ledger } from './ledger.js';
import type { AgentIdentity, Slot, StoredRevision, UpdateDeps } from './ports.js';
import { effectiveManifest, systemOf } from './revision.js';
import type { EventOf, Outcome } from './transitions.js';
import { verifyTarget } from './verify.js';
import { describeWindow, isWithinWindow, msUntilOpen } from './window.js';

export interface EngineSettings {
  readonly gate: Omit<GateOptions, 'bakeMs'>;
  /** Longest an app's update lock may hold an install back (counted from the first deferral). */
  readonly maxDeferralMs: number;
  readonly lockPollMs: number;
  readonly windowPollMs: number;
  /** Free space kept on top of the objects to download. */
  readonly spaceReserveBytes: number;
  /** Memory available for hand-over (old and new side by side); undefined: no check. */
  readonly spareMemoryBytes?: () => Promise<number | undefined>;
}

export interface HandlerContext {
  readonly deps: UpdateDeps;
  readonly identity: AgentIdentity;
  readonly settings: EngineSettings;
  readonly ledger: Ledger;
  /** Null only when recovering from an unreadable journal (rolling-back to the committed revision). */
  readonly update: JournalUpdate | null;
  readonly signal: AbortSignal;
  /** Persist fields of the update without changing state (slots, deferral start). */
  persist(patch: Partial<JournalUpdate>): Promise<void>;
  progress(
    percent: number,
    extra?: { message?: string; bytesDone?: number; bytesTotal?: number; reason?: ReasonCode },
  ): void;
}

/** Returned by a handler that rebooted the machine: the engine stops; the journal resumes it. */
export const HALT = Symbol('halt');

export type HandlerResult<S extends UpdateState> = Outcome<S> | typeof HALT;
export type Handler<S extends UpdateState> = (ctx: HandlerContext) => Promise<HandlerResult<S>>;
export type Handlers = { [S in Exclude<UpdateState, 'idle'>]: Handler<S> };

const ev = <S extends UpdateState>(event: EventOf<S>, reason?: ReasonCode, message?: string): Outcome<S> => ({
  event,
  ...(reason ? { reason } : {}),
  ...(message ? { message } : {}),
});

const errorText = (e: unknown) => (e instanceof Error ? e.message : String(e));

function need(update: JournalUpdate | null, state: UpdateState): JournalUpdate {
  if (!update) throw new Error(`journal has no update in state ${state}`);
  return update;
}

async function loadRevision(ctx: HandlerContext, id: string): Promise<StoredRevision> {
  const rev = await ctx.deps.revisions.get(id);
  if (!rev) throw new Error(`revision ${id} is not in the store`);
  return rev;
}

/** Why a plan step failed, as a protocol reason. */
function stepReason(e: unknown): { reason: ReasonCode; message: string } {
  if (e instanceof StepFailed) {
    const cause = e.cause as { reason?: unknown } | undefined;
    if (cause && typeof cause.reason === 'string')
      return { reason: cause.reason as ReasonCode, message: e.message };
    const byAction: Record<Step['action'], ReasonCode> = {
      stop: 'install-failed',
      remove: 'install-failed',
      'prepare-volumes': 'install-failed',
      create: 'install-failed',
      start: 'container-start-failed',
      // The new instance never accepted connections on a published port.
      publish: 'status-goal-timeout',
      'wait-goals': 'status-goal-timeout',
    };
    return { reason: byAction[e.step.action], message: e.message };
  }
  return { reason: 'install-failed', message: errorText(e) };
}

/** Apply the plan from what runs to `target` (idempotent: an applied plan plans to nothing). */
async function reconcileTo(
  ctx: HandlerContext,
  target: Pick<RevisionManifest, 'containers'>,
  revision: string,
  keepOld: boolean,
  progressBase: number,
): Promise<void> {
  const observed = await ctx.deps.containers.observe();
  const spare =
    ctx.update?.target.strategy === 'hand-over' ? await ctx.settings.spareMemoryBytes?.() : undefined;
  const steps = plan(null, target, {
    revision,
    observed,
    keepOld,
    strategy: ctx.update?.target.strategy ?? 'stop-start',
    ...(spare !== undefined ? { spareMemoryBytes: spare } : {}),
  });
  // Step timings in the log: an update's outage is the time between a stop and the next start,
  // and this is where it shows on a device (the downtime benchmark reads it too).
  const timings: string[] = [];
  let last: { label: string; at: number } | null = null;
  const lap = () => {
    if (last) timings.push(`${last.label} ${Math.round(performance.now() - last.at)} ms`);
  };
  try {
    await apply(steps, ctx.deps.containers.executors, ctx.signal, {
      onStep: (s, i, n) => {
        lap();
        const label = `${s.action} ${'instance' in s ? s.instance : s.group}`;
        last = { label, at: performance.now() };
        ctx.progress(progressBase + (10 * i) / Math.max(1, n), { message: label });
      },
    });
  } finally {
    lap();
    if (timings.length > 0) ctx.deps.log?.('info', `steps: ${timings.join(', ')}`);
  }
}

function committedSlot(current: Current | null, update: JournalUpdate | null): Slot | undefined {
  return current?.slot ?? update?.fromSlot;
}

export async function verifyContextOf(ctx: Pick<HandlerContext, 'deps' | 'identity' | 'ledger'>) {
  const current = await ctx.ledger.current();
  const storedHistory = [];
  for (const h of current?.history ?? []) if (await ctx.deps.revisions.get(h.revision)) storedHistory.push(h);
  return {
    trustRoots: ctx.identity.trustRoots,
    board: ctx.identity.board,
    agentVersion: ctx.identity.agentVersion,
    current,
    storedHistory,
    failed: await ctx.ledger.failed(),
    hasBootControl: ctx.deps.boot !== undefined,
  };
}

export const HANDLERS: Handlers = {
  async downloading(ctx) {
    const u = need(ctx.update, 'downloading');
    const all = manifestObjects(u.target.release);
    const missing = await ctx.deps.objects.missing(all);
    const needBytes = missing.reduce((n, o) => n + o.size, 0);
    const free = await ctx.deps.objects.freeBytes();
    if (needBytes + ctx.settings.spaceReserveBytes > free) {
      return ev(
        'refused',
        'insufficient-space',
        `needs ${needBytes} B for ${missing.length} object(s) plus a ${ctx.settings.spaceReserveBytes} B reserve; ${free} B free`,
      );
    }
    if (missing.length > 0) {
      try {
        await ctx.deps.downloader.fetch(missing, u.target.objectBaseUrl, {
          signal: ctx.signal,
          onProgress: (done, total) =>
            ctx.progress(total > 0 ? (45 * done) / total : 0, { bytesDone: done, bytesTotal: total }),
        });
      } catch (e) {
        if (ctx.signal.aborted) throw e;
        const reason = (e as { reason?: unknown }).reason;
        return ev(
          'failed',
          typeof reason === 'string' ? (reason as ReasonCode) : 'download-failed',
          errorText(e),
        );
      }
    }
    return ev('downloaded');
  },

  async verifying(ctx) {
    const u = need(ctx.update, 'verifying');
    // Again, now that time passed: the committed revision or the failed set may have changed.
    const v = verifyTarget(u.target, await verifyContextOf(ctx));
    if (!v.ok) return ev('refused', v.error.reason, v.error.message);
    if (v.value.kind === 'none')
      return ev('refused', 'sequence-not-newer', 'the device already runs this revision');
    const missing = await ctx.deps.objects.missing(manifestObjects(u.target.release));
    if (missing.length > 0) {
      return ev(
        'refused',
        'object-missing',
        `not in the store after download: ${missing.map((o) => o.digest).join(', ')}`,
      );
    }
    await ctx.deps.revisions.put({
      id: u.to,
      release: u.target.release,
      config: u.target.config,
      configVersion: u.target.configVersion,
    });
    return ev('verified');
  },

  async waiting(ctx) {
    const u = need(ctx.update, 'waiting');
    const { clock, locks } = ctx.deps;
    // The containers an install stops: the ones whose instance changes or goes away (for a
    // system update, every one: the machine reboots).
    const current = await ctx.ledger.current();
    const committed = current ? await ctx.deps.revisions.get(current.committed.revision) : null;
    const to = await loadRevision(ctx, u.to);
    const affected = new Set<string>();
    const steps = plan(committed ? effectiveManifest(committed) : null, effectiveManifest(to), {
      revision: u.to,
    });
    for (const s of steps) if (s.action === 'stop') affected.add(s.container);
    if (u.kind === 'system' && committed)
      for (const name of Object.keys(committed.release.containers)) affected.add(name);

    let deferredSince = u.deferredSince;
    for (;;) {
      ctx.signal.throwIfAborted();
      const now = clock.now();
      const w = u.target.window;
      if (w && !isWithinWindow(w, new Date(now))) {
        const wait = msUntilOpen(w, new Date(now));
        ctx.progress(55, {
          message: `waiting for the maintenance window ${describeWindow(w)} (opens in ${Math.round(wait / 60_000)} min)`,
        });
        await clock.sleep(Math.min(wait, ctx.settings.windowPollMs), ctx.signal);
        continue;
      }
      const holders = await locks.held([...affected].sort());
      if (holders.length === 0) return ev('install-now');
      if (deferredSince === undefined) {
        deferredSince = now;
        await ctx.persist({ deferredSince });
      }
      const left = deferredSince + ctx.settings.maxDeferralMs - now;
      if (left <= 0) {
        ctx.deps.log?.(
          'warn',
          `update lock of ${holders.join(', ')} held past the maximum deferral (${ctx.settings.maxDeferralMs} ms): installing anyway`,
        );
        return ev(
          'install-now',
          undefined,
          `update lock of ${holders.join(', ')} overridden after the maximum deferral`,
        );
      }
      ctx.progress(55, {
        message: `deferred by the update lock of ${holders.join(', ')}; installing anyway in ${Math.ceil(left / 1000)} s`,
      });
      await clock.sleep(Math.min(left, ctx.settings.lockPollMs), ctx.signal);
    }
  },

  async installing(ctx) {
    const u = need(ctx.update, 'installing');
    const to = await loadRevision(ctx, u.to);
    if (u.kind === 'app') {
      try {
        await reconcileTo(ctx, effectiveManifest(to), u.to, true, 60);
      } catch (e) {
        if (ctx.signal.aborted) throw e;
        const r = stepReason(e);
        return ev('failed', r.reason, r.message);
      }
      return ev('app-installed');
    }
    const boot = ctx.deps.boot;
    const rootfs = to.release.system?.rootfs;
    if (!boot || !rootfs)
      return ev('failed', 'install-failed', 'system update without boot control or rootfs object');
    const fromSlot = await boot.activeSlot();
    const toSlot: Slot = fromSlot === 'A' ? 'B' : 'A';
    await ctx.persist({ fromSlot, toSlot });
    try {
      await boot.install(ctx.deps.objects.pathOf(rootfs.digest), toSlot, {
        expectedDigest: rootfs.digest,
        signal: ctx.signal,
        onProgress: (done, total) =>
          ctx.progress(60 + (15 * done) / (total ?? rootfs.size ?? done), {
            bytesDone: done,
            bytesTotal: total ?? rootfs.size,
          }),
      });
      await boot.armTryBoot(toSlot);
    } catch (e) {
      if (ctx.signal.aborted) throw e;
      return ev('failed', 'slot-write-failed', `writing slot ${toSlot}: ${errorText(e)}`);
    }
    return ev('slot-armed');
  },

  async rebooting(ctx) {
    const u = need(ctx.update, 'rebooting');
    const boot = ctx.deps.boot;
    if (!boot || !u.toSlot)
      return ev('boot-failed', 'internal-error', 'rebooting without boot control or target slot');
    const v = await boot.verifyBoot();
    if (v.bootedSlot === u.toSlot && !v.fellBack) return ev('booted-new');
    if (v.armedSlot === u.toSlot) {
      // Armed, not booted yet: this is the first run of the state, or a crash before the reboot.
      await ctx.deps.reboot();
      return HALT;
    }
    const log = await ctx.deps.failedBootLog?.().catch(() => undefined);
    if (log)
      await ctx.persist({
        failure: {
          reason: 'boot-failed',
          message: 'boot of the new slot failed',
          failedBootLog: log.slice(-64 * 1024),
        },
      });
    return ev(
      'boot-failed',
      'boot-failed',
      `slot ${u.toSlot} did not boot (${v.bootcount} attempt(s)); the bootloader went back to slot ${v.bootedSlot}`,
    );
  },

  async testing(ctx) {
    const u = need(ctx.update, 'testing');
    if (u.kind === 'system') {
      const v = await ctx.deps.boot?.verifyBoot();
      if (!v || v.bootedSlot !== u.toSlot || v.fellBack) {
        return ev(
          'unhealthy',
          'boot-failed',
          `expected to run slot ${u.toSlot}, the bootloader booted ${v?.bootedSlot ?? 'unknown'}`,
        );
      }
    }
    const to = await loadRevision(ctx, u.to);
    const manifest = effectiveManifest(to);
    try {
      await reconcileTo(ctx, manifest, u.to, true, 80);
    } catch (e) {
      if (ctx.signal.aborted) throw e;
      const r = stepReason(e);
      return ev('unhealthy', r.reason, r.message);
    }
    const instances = plan(null, manifest, { revision: u.to }).flatMap((s) =>
      s.action === 'wait-goals' ? s.instances : [],
    );
    ctx.progress(85, {
      message: `health gate: ${instances.length} container(s), bake ${u.target.bakeSeconds} s`,
    });
    const gate = await healthGate(
      instances,
      {
        health: (names) => ctx.deps.containers.health(names),
        clock: ctx.deps.clock,
        ...(ctx.deps.hubReachable ? { hubReachable: ctx.deps.hubReachable } : {}),
      },
      { ...ctx.settings.gate, bakeMs: u.target.bakeSeconds * 1000 },
      ctx.signal,
    );
    return gate.ok ? ev('healthy') : ev('unhealthy', gate.reason, gate.message);
  },

  async committing(ctx) {
    const u = need(ctx.update, 'committing');
    if (u.kind === 'system') await ctx.deps.boot?.commit();
    const cur = await ctx.ledger.current();
    if (cur?.committed.revision !== u.to) {
      const r = u.target.release;
      await ctx.ledger.commit(
        {
          revision: u.to,
          releaseDigest: u.revision.digest,
          version: r.version,
          sequence: r.sequence,
          configVersion: u.target.configVersion,
        },
        u.kind === 'system' ? u.toSlot : cur?.slot,
        systemOf(r, cur?.system),
      );
    }
    // Past the commit point: failing to remove old instances is not a reason to go back. The
    // next startup reconcile removes what is left.
    try {
      const to = await loadRevision(ctx, u.to);
      await reconcileTo(ctx, effectiveManifest(to), u.to, false, 95);
    } catch (e) {
      if (ctx.signal.aborted) throw e;
      ctx.deps.log?.('warn', `cleanup after commit: ${errorText(e)}`);
    }
    return ev('committed');
  },

  async 'rolling-back'(ctx) {
    const u = ctx.update;
    const cur = await ctx.ledger.current();
    const boot = ctx.deps.boot;
    if (boot && (u === null || u.kind === 'system')) {
      const v = await boot.verifyBoot();
      const home = committedSlot(cur, u);
      if (home !== undefined && v.bootedSlot !== home) {
        if (v.triedSlot === v.bootedSlot) {
          // Running the new slot on trial: give it up; the bootloader boots the old one next.
          const r = await boot.rollback();
          if (r.rebootRequired) return ev('reboot-required');
        } else {
          // Nothing on trial, yet not home: the rollback was done before a crash, or the new
          // slot got committed by a commit that never finished. Either way, try-boot home.
          await boot.armTryBoot(home);
          return ev('reboot-required');
        }
      } else if (v.armedSlot !== undefined) {
        // Armed but never booted: cancelling the arm is the whole rollback.
        await boot.rollback();
      } else if (v.fellBack || v.triedSlot === v.bootedSlot) {
        // Home again after a fallback, or home booted on trial (armed above): make it final.
        await boot.commit();
      }
    }
    try {
      if (cur) {
        const rev = await loadRevision(ctx, cur.committed.revision);
        await reconcileTo(ctx, effectiveManifest(rev), cur.committed.revision, false, 90);
      } else {
        // Fresh device, first update failed: nothing was committed, nothing may run.
        await reconcileTo(ctx, { containers: {} }, 'none', false, 90);
      }
    } catch (e) {
      if (ctx.signal.aborted) throw e;
      return ev('failed', 'internal-error', `rollback failed: ${errorText(e)}`);
    }
    return ev('rolled-back');
  },

  async 'rollback-rebooting'(ctx) {
    const boot = ctx.deps.boot;
    const home = committedSlot(await ctx.ledger.current(), ctx.update);
    const v = await boot?.verifyBoot();
    if (!v || v.bootedSlot === home) return ev('rebooted');
    await ctx.deps.reboot();
    return HALT;
  },
};

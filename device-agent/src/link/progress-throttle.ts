// Rate limit for update progress on its way to the hub. The downloader reports every 200 ms
// and each progress message is an fsync'ed offline-queue entry on the device and a row at the
// hub (~500 rows per update before this), while the hub only needs the state changes and a
// moving percentage. The local API's progress log keeps every message; only the hub path is
// throttled.
import type { Progress } from '@fleet/protocol';

export interface ProgressThrottleOptions {
  /** Within one state, at most one message per this many ms... */
  readonly intervalMs?: number;
  /** ...unless the percentage moved at least this many points since the last one sent. */
  readonly percentStep?: number;
  readonly now?: () => number;
  /** Timer for the trailing message (tests pass fake timers through vitest). */
  readonly setTimer?: (fn: () => void, ms: number) => { cancel(): void };
}

const TERMINAL: ReadonlySet<Progress['status']> = new Set(['succeeded', 'failed', 'rolled-back']);

interface PerUpdate {
  last: Progress;
  lastAt: number;
  pending: Progress | null;
  timer: { cancel(): void } | null;
}

const defaultTimer = (fn: () => void, ms: number) => {
  const t = setTimeout(fn, ms);
  t.unref();
  return { cancel: () => clearTimeout(t) };
};

/**
 * Passes on at once: the first message of an update, every change of state, status, reason or
 * message (install steps, failures), a terminal status, and a percentage `percentStep` points
 * past the last one sent. Anything else within `intervalMs` of the last message sent is held;
 * the newest held message is sent when the interval ends (unless something newer went out
 * first), so the hub never keeps a stale byte count for more than one interval.
 */
export class ProgressThrottle {
  private readonly updates = new Map<string, PerUpdate>();
  private readonly intervalMs: number;
  private readonly percentStep: number;
  private readonly now: () => number;
  private readonly setTimer: NonNullable<ProgressThrottleOptions['setTimer']>;

  constructor(
    private readonly send: (p: Progress) => void,
    o: ProgressThrottleOptions = {},
  ) {
    this.intervalMs = o.intervalMs ?? 1000;
    this.percentStep = o.percentStep ?? 5;
    this.now = o.now ?? Date.now;
    this.setTimer = o.setTimer ?? defaultTimer;
  }

  push(p: Progress): void {
    const u = this.updates.get(p.updateId);
    const now = this.now();
    if (!u || this.significant(u.last, p) || now - u.lastAt >= this.intervalMs) {
      this.emit(p, now, u);
      return;
    }
    u.pending = p;
    u.timer ??= this.setTimer(() => this.flush(p.updateId), u.lastAt + this.intervalMs - now);
  }

  private significant(last: Progress, p: Progress): boolean {
    return (
      TERMINAL.has(p.status) ||
      p.state !== last.state ||
      p.status !== last.status ||
      p.reason !== last.reason ||
      p.message !== last.message ||
      Math.abs(p.percent - last.percent) >= this.percentStep
    );
  }

  private flush(updateId: string): void {
    const u = this.updates.get(updateId);
    if (!u) return;
    u.timer = null;
    if (u.pending) this.emit(u.pending, this.now(), u);
  }

  private emit(p: Progress, now: number, u: PerUpdate | undefined): void {
    u?.timer?.cancel();
    if (TERMINAL.has(p.status)) this.updates.delete(p.updateId);
    else this.updates.set(p.updateId, { last: p, lastAt: now, pending: null, timer: null });
    this.send(p);
  }
}

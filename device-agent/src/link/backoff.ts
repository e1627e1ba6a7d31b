/**
 * Exponential backoff with jitter, for every retry loop of the link (provisioning, MQTT
 * reconnect, downloads).
 *
 * Jitter is "equal jitter": the delay is uniformly drawn from [base/2, base]. Full jitter
 * ([0, base]) spreads a reconnect storm best but sometimes retries at once; after a hub
 * outage thousands of devices come back together, and a floor of half the base keeps each
 * device from hammering while still spreading the fleet over a window of base/2.
 */
export interface BackoffOptions {
  initialMs: number;
  maxMs: number;
  /** Growth per attempt; 2 doubles. */
  factor?: number;
  /** Source of randomness in [0, 1); injected so tests are deterministic. */
  random?: () => number;
}

export class Backoff {
  private attempt = 0;
  private readonly factor: number;
  private readonly random: () => number;

  constructor(private readonly opts: BackoffOptions) {
    if (!(opts.initialMs > 0) || !(opts.maxMs >= opts.initialMs)) {
      throw new RangeError(`backoff needs 0 < initialMs <= maxMs, got ${opts.initialMs} and ${opts.maxMs}`);
    }
    this.factor = opts.factor ?? 2;
    if (!(this.factor >= 1)) throw new RangeError(`backoff factor must be >= 1, got ${this.factor}`);
    this.random = opts.random ?? Math.random;
  }

  /** The ceiling of the next delay, before jitter. */
  get base(): number {
    return Math.min(this.opts.maxMs, this.opts.initialMs * this.factor ** this.attempt);
  }

  /** The delay before the next attempt; each call grows the base until maxMs. */
  next(): number {
    const base = this.base;
    this.attempt = Math.min(this.attempt + 1, 64);
    return Math.round(base / 2 + this.random() * (base / 2));
  }

  /** After a success: the next failure starts from initialMs again. */
  reset(): void {
    this.attempt = 0;
  }

  get attempts(): number {
    return this.attempt;
  }
}

/** Waits `ms`, or rejects with the signal's reason as soon as it aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) {
      reject(abortReason(signal));
      return;
    }
    const onAbort = () => {
      clearTimeout(timer);
      reject(abortReason(signal as AbortSignal));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

export function abortReason(signal: AbortSignal): Error {
  const r: unknown = signal.reason;
  if (r instanceof Error) return r;
  const e = new Error(typeof r === 'string' ? r : 'aborted');
  e.name = 'AbortError';
  return e;
}

export function isAbortError(e: unknown): boolean {
  return e instanceof Error && (e.name === 'AbortError' || e.name === 'TimeoutError');
}

import type { Progress } from '@fleet/protocol';

const KEEP_UPDATES = 20;

/**
 * The progress messages of the last few updates, for the local API (`install` waits on
 * them). Forwarding to the hub is the link's job; this only remembers.
 */
export class ProgressLog {
  private readonly byUpdate = new Map<string, Progress[]>();
  private readonly waiters = new Set<() => void>();

  record(p: Progress): void {
    let list = this.byUpdate.get(p.updateId);
    if (!list) {
      list = [];
      this.byUpdate.set(p.updateId, list);
      while (this.byUpdate.size > KEEP_UPDATES)
        this.byUpdate.delete(this.byUpdate.keys().next().value as string);
    }
    list.push(p);
    for (const w of [...this.waiters]) w();
  }

  of(updateId: string): readonly Progress[] {
    return this.byUpdate.get(updateId) ?? [];
  }

  /** Resolves at the next recorded message (or when the signal aborts). */
  next(signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        this.waiters.delete(done);
        signal.removeEventListener('abort', done);
        resolve();
      };
      this.waiters.add(done);
      signal.addEventListener('abort', done, { once: true });
    });
  }
}

/** An update's final message: reported from idle with a terminal status. */
export function isTerminal(p: Progress): boolean {
  return (
    p.state === 'idle' && (p.status === 'succeeded' || p.status === 'failed' || p.status === 'rolled-back')
  );
}

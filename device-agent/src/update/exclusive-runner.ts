/**
 * Everything that mutates the device runs through one runner, one job at a time (after
 * balena-supervisor's exclusive-runner.ts): update steps, local API container restarts,
 * reconciliation at startup. Jobs queue in FIFO order; a job whose signal aborts while it
 * waits is dropped without running.
 */
export class ExclusiveRunner {
  private tail: Promise<unknown> = Promise.resolve();
  private active: string | null = null;

  /** What runs now (for status and tests), or null. */
  get running(): string | null {
    return this.active;
  }

  run<T>(label: string, job: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    const result = this.tail.then(async () => {
      signal?.throwIfAborted();
      this.active = label;
      try {
        return await job();
      } finally {
        this.active = null;
      }
    });
    // The queue continues whatever the job's fate; the caller sees its result or error.
    this.tail = result.catch(() => undefined);
    return result;
  }
}

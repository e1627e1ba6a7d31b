import type { Executors, Step, StepAction } from './steps.js';

/** Thrown by apply() with the step that failed, so the caller can report which container. */
export class StepFailed extends Error {
  override readonly name = 'StepFailed';
  constructor(
    readonly step: Step,
    readonly index: number,
    override readonly cause: unknown,
  ) {
    super(
      `step ${index + 1} (${step.action}${'instance' in step ? ` ${step.instance}` : ` ${step.group}`}) failed: ${
        cause instanceof Error ? cause.message : String(cause)
      }`,
    );
  }
}

// The generic parameter ties the step to its executor without a cast: for a `Step<K>`,
// `executors[step.action]` is exactly `(step: Step<K>, ...) => ...`.
function dispatch<K extends StepAction>(
  step: Step<K>,
  executors: Executors,
  signal: AbortSignal,
): Promise<void> {
  const run: (step: Step<K>, signal: AbortSignal) => Promise<void> = executors[step.action];
  return run(step, signal);
}

export interface ApplyOptions {
  /** Called before each step, e.g. for progress and test crash points. */
  readonly onStep?: (step: Step, index: number, total: number) => void;
}

/**
 * Runs steps in order, one at a time. Stops at the first failure (StepFailed) or when the
 * signal aborts (its reason is thrown). No rollback here: the update engine decides what a
 * failure means and plans the way back from what the runtime then reports.
 */
export async function apply(
  steps: readonly Step[],
  executors: Executors,
  signal: AbortSignal,
  opts: ApplyOptions = {},
): Promise<void> {
  for (const [i, step] of steps.entries()) {
    signal.throwIfAborted();
    opts.onStep?.(step, i, steps.length);
    try {
      await dispatch(step, executors, signal);
    } catch (e) {
      if (signal.aborted) throw signal.reason;
      throw new StepFailed(step, i, e);
    }
  }
}

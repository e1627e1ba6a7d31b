import type { UpdateState } from '@fleet/protocol';

export type CrashPhase = 'before' | 'after';

/**
 * Called by the engine right before it persists entering a state (`before`) and right after
 * (`after`, before the state's handler runs). The torture test sets FLEET_CRASH_AT to kill the
 * agent exactly at one boundary; in production the hook does nothing.
 */
export type CrashHook = (state: UpdateState, phase: CrashPhase) => void;

export const noCrash: CrashHook = () => {};

/**
 * `FLEET_CRASH_AT=<state>:<before|after>[,...]`: SIGKILL this process at that boundary, the
 * same death as a power cut as far as the agent's files are concerned (written data stays in
 * the page cache, which the torture test accepts; a real power cut is the qemu test's job).
 * Compiled in, inert unless the variable is set.
 */
export function crashHookFromEnv(
  value: string | undefined,
  kill: () => void = () => process.kill(process.pid, 'SIGKILL'),
): CrashHook {
  if (!value) return noCrash;
  const points = new Set(
    value
      .split(',')
      .map((s) => s.trim())
      .filter(Boolean),
  );
  return (state, phase) => {
    if (points.has(`${state}:${phase}`)) kill();
  };
}

#!/usr/bin/env node
import { CommanderError } from 'commander';
import { formatError, UsageError } from './cli/errors.js';
import { runCli } from './cli/program.js';
import { COMMANDS } from './commands/index.js';
import { createContext } from './context.js';

/** Exit codes, set here and nowhere else: 0 ok, 1 failure, 2 usage error, 130 interrupted. */
export function exitCodeFor(e: unknown): number {
  if (e instanceof CommanderError) {
    if (e.code === 'commander.helpDisplayed' || e.code === 'commander.version') return 0;
    return 2;
  }
  if (e instanceof UsageError) return 2;
  if (e instanceof Error && (e.name === 'AbortError' || (e as { code?: string }).code === 'aborted'))
    return 130;
  return 1;
}

const abort = new AbortController();
process.once('SIGINT', () => {
  abort.abort();
  // A second Ctrl-C does not wait for the clean-up.
  process.once('SIGINT', () => process.exit(130));
});
process.once('SIGTERM', () => abort.abort());

const ctx = createContext({
  env: process.env,
  cwd: process.cwd(),
  stdout: process.stdout,
  stderr: process.stderr,
  terminal: process.stderr,
  stdin: process.stdin,
  signal: abort.signal,
});

try {
  await runCli(process.argv.slice(2), COMMANDS, ctx);
  process.exitCode = abort.signal.aborted ? 130 : 0;
} catch (e) {
  // commander has already printed its own errors (unknown option, missing argument).
  if (!(e instanceof CommanderError)) process.stderr.write(formatError(e));
  process.exitCode = exitCodeFor(e);
}

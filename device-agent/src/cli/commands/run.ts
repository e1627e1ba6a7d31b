import type { LinkLogger } from '../../link/logger.js';
import type { RunOptions } from '../../main.js';

/** The daemon: runs until SIGTERM/SIGINT (graceful) or a reboot; resolves with the exit status. */
export async function runCommand(opts: Omit<RunOptions, 'logger'>, verbose: boolean): Promise<number> {
  const logger = stderrLogger(verbose);
  // Imported here, not at the top: the agent (main.ts and all it wires: link, update engine,
  // runtime, their schemas) is evaluated for `run` only, not for `status`, `logs` or `--help`.
  const { startAgent } = await import('../../main.js');
  const agent = await startAgent({ ...opts, logger });
  const onSignal = (sig: NodeJS.Signals) => {
    logger.info(`${sig}: stopping (containers keep running)`);
    void agent.stop();
  };
  process.once('SIGTERM', onSignal);
  process.once('SIGINT', onSignal);
  const code = await agent.exit;
  process.off('SIGTERM', onSignal);
  process.off('SIGINT', onSignal);
  return code;
}

function stderrLogger(verbose: boolean): LinkLogger {
  const line = (level: string) => (message: string, fields?: Record<string, unknown>) =>
    process.stderr.write(
      `${new Date().toISOString()} ${level} ${message}${fields ? ` ${JSON.stringify(fields)}` : ''}\n`,
    );
  return {
    debug: verbose ? line('debug') : () => {},
    info: line('info'),
    warn: line('warn'),
    error: line('error'),
  };
}

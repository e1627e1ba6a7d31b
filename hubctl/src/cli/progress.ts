import cliProgress from 'cli-progress';
import { bytes } from './format.js';
import type { TextSink } from './command.js';

/** A byte counter for long work (uploads); drawn as a bar on a terminal. */
export interface Progress {
  increment(n: number): void;
  stop(): void;
}

export type ProgressFactory = (label: string, totalBytes: number) => Progress;

/**
 * On a terminal, a cli-progress bar on stderr. Elsewhere (CI logs, pipes) one line at the start
 * and one at the end: a redrawn bar would fill the log with carriage returns.
 */
export function progressFactory(stderr: TextSink, terminal?: NodeJS.WriteStream): ProgressFactory {
  return (label, total) => {
    if (terminal?.isTTY) {
      const bar = new cliProgress.SingleBar(
        {
          stream: terminal,
          format: `${label} [{bar}] {percentage}% {done}/{size} {eta_formatted}`,
          hideCursor: true,
          clearOnComplete: false,
        },
        cliProgress.Presets.shades_classic,
      );
      let done = 0;
      bar.start(total, 0, { done: bytes(0), size: bytes(total) });
      return {
        increment(n) {
          done += n;
          bar.update(done, { done: bytes(done), size: bytes(total) });
        },
        stop: () => bar.stop(),
      };
    }
    stderr.write(`${label}: ${bytes(total)}...\n`);
    let done = 0;
    return {
      increment(n) {
        done += n;
      },
      stop() {
        stderr.write(`${label}: ${bytes(done)} done\n`);
      },
    };
  };
}

import type { z } from 'zod';
import type { ConfigStore } from '../config.js';
import type { HubClient } from '../hub/hub-client.js';
import type { ProgressFactory } from './progress.js';

export interface TextSink {
  write(text: string): unknown;
  isTTY?: boolean;
}

/** Everything a command may touch, built once in bin.ts (no module singletons). */
export interface CommandContext {
  stdout: TextSink;
  stderr: TextSink;
  env: NodeJS.ProcessEnv;
  cwd: string;
  config: ConfigStore;
  /** A client for the logged-in hub (or HUBCTL_URL/HUBCTL_TOKEN); fails with a login hint. */
  hub(): Promise<HubClient>;
  /** Reads all of standard input (for `login --token-stdin`). */
  readStdin(): Promise<string>;
  /** Ctrl-C: long work (conversion, uploads, `logs --follow`) stops on it. */
  signal: AbortSignal;
  /** Progress of long byte-counted work (uploads). */
  progress: ProgressFactory;
}

/** What a command prints: `data` with --json, `text` otherwise. */
export interface CommandOutput {
  data: unknown;
  text: string;
}

export interface ArgumentSpec {
  name: string;
  description: string;
  optional?: boolean;
  /** Takes every remaining argument; the value is an array. */
  variadic?: boolean;
}

export interface OptionSpec {
  /** commander flags, e.g. `-f, --file <path>`, `--tag <k=v>`, `--follow`. */
  flags: string;
  description: string;
  /** May be given several times; the values arrive as an array. */
  repeatable?: boolean;
}

/**
 * One hubctl command, one file (`commands/<noun>-<verb>.ts`). The command line is read into
 * one object (arguments by name, options by camelCase name) and validated by `input`, so every
 * rule about what a command accepts is in its zod schema.
 */
export interface CommandSpec<S extends z.ZodType = z.ZodType> {
  /** `['devices', 'ls']`, or `['login']` for a top-level command. */
  path: readonly [string] | readonly [string, string];
  summary: string;
  args?: readonly ArgumentSpec[];
  options?: readonly OptionSpec[];
  /** Read commands answer `--json` with machine-readable output. */
  json: boolean;
  input: S;
  run(input: z.output<S>, ctx: CommandContext): Promise<CommandOutput | undefined>;
}

/** Keeps the schema's output type attached to `run` at each definition site. */
export function defineCommand<S extends z.ZodType>(spec: CommandSpec<S>): CommandSpec<S> {
  return spec;
}

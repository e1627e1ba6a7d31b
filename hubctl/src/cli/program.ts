import { Command, Option } from 'commander';
import { jsonPath } from '@fleet/protocol';
import type { z } from 'zod';
import { HUBCTL_VERSION } from '../version.js';
import type { CommandContext, CommandSpec } from './command.js';
import { UsageError } from './errors.js';

/** `maxUses` → `--max-uses`: how an option is named on the command line. */
export function flagName(key: string): string {
  return `--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
}

/** Zod issues of a command's input as usage text naming the option or argument at fault. */
export function describeInputIssues(
  spec: Pick<CommandSpec, 'args'>,
  issues: readonly z.core.$ZodIssue[],
): string {
  const argNames = new Set((spec.args ?? []).map((a) => a.name));
  return issues
    .map((i) => {
      const [head, ...rest] = i.path;
      if (head === undefined) return i.message;
      const label = typeof head === 'string' && argNames.has(head) ? `<${head}>` : flagName(String(head));
      return `${label}${rest.length > 0 ? jsonPath(rest).slice(1) : ''}: ${i.message}`;
    })
    .join('\n');
}

function usageOf(cmd: Command): string {
  const names: string[] = [];
  for (let c: Command | null = cmd; c; c = c.parent) names.unshift(c.name());
  return `usage: ${names.join(' ')} ${cmd.usage()}`;
}

/**
 * Builds the commander program from the registry. Each spec becomes `hubctl <noun> <verb>`;
 * commander only splits the command line, the spec's zod schema decides what is valid.
 * Nothing here exits: errors are thrown to bin.ts.
 */
export function createProgram(specs: readonly CommandSpec[], ctx: CommandContext): Command {
  const program = new Command('hubctl')
    .description('Command-line client of the fleet hub.')
    .version(HUBCTL_VERSION)
    .exitOverride()
    .configureOutput({ writeOut: (s) => ctx.stdout.write(s), writeErr: (s) => ctx.stderr.write(s) })
    .showHelpAfterError('(add --help for usage)')
    .allowExcessArguments(false);

  const groups = new Map<string, Command>();
  for (const spec of specs) {
    let parent = program;
    const [first, second] = spec.path;
    let name = first;
    if (second !== undefined) {
      let group = groups.get(first);
      if (!group) {
        group = program.command(first).description(`${first} commands`);
        groups.set(first, group);
      }
      parent = group;
      name = second;
    }
    const cmd = parent.command(name).description(spec.summary);
    for (const a of spec.args ?? []) {
      const name = `${a.name}${a.variadic ? '...' : ''}`;
      cmd.argument(a.optional ? `[${name}]` : `<${name}>`, a.description);
    }
    for (const o of spec.options ?? []) {
      const opt = new Option(o.flags, o.description);
      if (o.repeatable)
        opt.argParser((value: string, previous: string[] | undefined) => [...(previous ?? []), value]);
      cmd.addOption(opt);
    }
    if (spec.json) cmd.option('--json', 'print JSON instead of text');
    cmd.action(async (...params: unknown[]) => {
      const argValues = params.slice(0, (spec.args ?? []).length);
      const raw: Record<string, unknown> = { ...(cmd.opts() as Record<string, unknown>) };
      (spec.args ?? []).forEach((a, i) => {
        if (argValues[i] !== undefined) raw[a.name] = argValues[i];
      });
      const parsed = spec.input.safeParse(raw);
      if (!parsed.success) throw new UsageError(describeInputIssues(spec, parsed.error.issues), usageOf(cmd));
      const out = await spec.run(parsed.data, ctx);
      if (!out) return;
      if (spec.json && raw.json === true) ctx.stdout.write(`${JSON.stringify(out.data, null, 2)}\n`);
      else if (out.text !== '') ctx.stdout.write(out.text);
    });
  }
  return program;
}

/** Parses and runs one command line (without the node and script names). */
export async function runCli(
  argv: readonly string[],
  specs: readonly CommandSpec[],
  ctx: CommandContext,
): Promise<void> {
  await createProgram(specs, ctx).parseAsync([...argv], { from: 'user' });
}

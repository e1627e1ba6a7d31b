import { readFile } from 'node:fs/promises';
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { BootControlError, Slot, parseFwEnvConfig } from '../boot-backends.js';
import { BoardError, loadBoard, loadBoardFile } from '../boards.js';
import { createBootControl } from './boot-control-factory.js';

/**
 * The boot-control contract (ARCHITECTURE): verbs active-slot, install <image> <slot>,
 * arm-try-boot <slot>, verify-boot, commit, rollback; one JSON document on stdout.
 * Success: {"ok":true,"verb":...,"result":...}; failure: {"ok":false,"verb":...,"error":{code,message}}.
 * Exit codes: 0 ok, 1 refused/failed, 2 usage.
 */
export const USAGE = `usage: boot-control [options] <verb> [args]
verbs:
  active-slot                  the slot the running system booted from
  install <image> <A|B>        write an image into a slot, verified by read-back
  arm-try-boot <A|B>           boot that slot next, on trial (fallback after bootlimit)
  verify-boot                  what the bootloader did: {bootedSlot, triedSlot?, fellBack, bootcount}
  commit                       accept the running slot
  rollback                     give up the slot on trial (or cancel an armed try-boot)
options:
  --board <name|path>          board name or board.json (default /etc/fleet/board.json)
  --backend uboot-env|file     default uboot-env
  --fw-env-config <path>       uboot-env: use this fw_env.config instead of the board's layout
  --cmdline <path>             uboot-env: read fleet.slot= from here (default /proc/cmdline)
  --state <dir>                file: state directory
  --slot-a <path> --slot-b <path>  slot targets (default: the board's partitions)
  --sha256 <digest>            install: expected image digest`;

const Options = z.object({
  board: z.string().default('/etc/fleet/board.json'),
  backend: z.enum(['uboot-env', 'file']).default('uboot-env'),
  'fw-env-config': z.string().optional(),
  cmdline: z.string().optional(),
  state: z.string().optional(),
  'slot-a': z.string().optional(),
  'slot-b': z.string().optional(),
  sha256: z.string().optional(),
});

const Verb = z.enum(['active-slot', 'install', 'arm-try-boot', 'verify-boot', 'commit', 'rollback']);
type Verb = z.infer<typeof Verb>;

export interface CliOutcome {
  exitCode: number;
  stdout: string;
}

function fail(verb: string | undefined, code: string, message: string, exitCode: number): CliOutcome {
  return {
    exitCode,
    stdout: `${JSON.stringify({ ok: false, verb: verb ?? null, error: { code, message } })}\n`,
  };
}

function slotArg(value: string | undefined, verb: Verb): Slot {
  const parsed = Slot.safeParse(value);
  if (!parsed.success)
    throw new UsageError(`${verb} needs a slot argument A or B, got ${JSON.stringify(value ?? null)}`);
  return parsed.data;
}

class UsageError extends Error {}

export async function runBootControl(argv: string[], signal?: AbortSignal): Promise<CliOutcome> {
  let verb: Verb | undefined;
  try {
    const { values, positionals } = parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        board: { type: 'string' },
        backend: { type: 'string' },
        'fw-env-config': { type: 'string' },
        cmdline: { type: 'string' },
        state: { type: 'string' },
        'slot-a': { type: 'string' },
        'slot-b': { type: 'string' },
        sha256: { type: 'string' },
      },
    });
    const options = Options.safeParse(values);
    if (!options.success)
      throw new UsageError(options.error.issues.map((i) => `--${i.path.join('.')}: ${i.message}`).join('; '));
    const parsedVerb = Verb.safeParse(positionals[0]);
    if (!parsedVerb.success)
      throw new UsageError(`unknown verb ${JSON.stringify(positionals[0] ?? null)}\n${USAGE}`);
    verb = parsedVerb.data;
    const opts = options.data;
    if ((opts['slot-a'] === undefined) !== (opts['slot-b'] === undefined))
      throw new UsageError('give both --slot-a and --slot-b, or neither');

    const board =
      opts.board.includes('/') || opts.board.endsWith('.json')
        ? await loadBoardFile(opts.board)
        : await loadBoard(opts.board);
    const { control } = await createBootControl({
      backend: opts.backend,
      board,
      ...(opts['fw-env-config']
        ? { fwEnvConfig: parseFwEnvConfig(await readFile(opts['fw-env-config'], 'utf8')) }
        : {}),
      ...(opts.cmdline ? { cmdlinePath: opts.cmdline } : {}),
      ...(opts.state ? { stateDir: opts.state } : {}),
      ...(opts['slot-a'] && opts['slot-b'] ? { slotTargets: { A: opts['slot-a'], B: opts['slot-b'] } } : {}),
    });

    let result: unknown;
    switch (verb) {
      case 'active-slot':
        result = { slot: await control.activeSlot() };
        break;
      case 'install': {
        const image = positionals[1];
        if (!image) throw new UsageError('install needs <image> <slot>');
        result = await control.install(image, slotArg(positionals[2], verb), {
          ...(opts.sha256 ? { expectedDigest: opts.sha256 } : {}),
          ...(signal ? { signal } : {}),
        });
        break;
      }
      case 'arm-try-boot': {
        const slot = slotArg(positionals[1], verb);
        await control.armTryBoot(slot);
        result = { armedSlot: slot };
        break;
      }
      case 'verify-boot':
        result = await control.verifyBoot();
        break;
      case 'commit':
        result = await control.commit();
        break;
      case 'rollback':
        result = await control.rollback();
        break;
    }
    return { exitCode: 0, stdout: `${JSON.stringify({ ok: true, verb, result })}\n` };
  } catch (error) {
    if (error instanceof UsageError) return fail(verb, 'usage', error.message, 2);
    if (error instanceof TypeError && 'code' in error && String(error.code).startsWith('ERR_PARSE_ARGS')) {
      return fail(verb, 'usage', `${error.message}\n${USAGE}`, 2);
    }
    if (error instanceof BootControlError) return fail(verb, error.code, error.message, 1);
    if (error instanceof BoardError) return fail(verb, 'board-invalid', error.message, 1);
    return fail(verb, 'failed', (error as Error).message, 1);
  }
}

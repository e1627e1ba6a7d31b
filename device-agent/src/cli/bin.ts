#!/usr/bin/env node
// fleet-agent: the agent daemon (`run`) and the local CLI over its unix socket. The only place
// that sets exit codes: 0 ok, 1 the operation failed, 2 usage, 3 the agent is not running.
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { AgentUnreachable, ApiError } from '../api/client.js';
import { AgentConfigError } from '../link/config.js';
import { clientFor, CommandFailed, configPathOf, UsageError, type Io } from './context.js';
import { importImageCommand } from './commands/import-image.js';
import { installCommand } from './commands/install.js';
import { logsCommand } from './commands/logs.js';
import { runCommand } from './commands/run.js';
import { statusCommand } from './commands/status.js';

const USAGE = `usage: fleet-agent <command> [options]

  run                      run the agent (config: --config, $FLEET_AGENT_CONFIG, /etc/fleet/agent.json)
      [--lxcpath DIR] [--watchdog DEV] [--watchdog-interval-ms N] [--watchdog-timeout-s N]
      [--slot-a DEV --slot-b DEV] [--fw-env-config FILE] [--poll-ms N] [--goal-timeout-ms N]
      [--space-reserve-bytes N] [--verbose]
  status [--json]          revision, update state, containers
  logs [-f] [--tail BYTES] [CONTAINER]
  import-image REF [--platform linux/arm64] [--plain-http]
                           REF: oci:DIR[:TAG] | docker-archive:FILE[:NAME:TAG] | HOST/REPO[:TAG]
  install DIR [--strategy stop-start|hand-over] [--bake-seconds N] [--force] [--no-wait] [--json]
                           DIR holds release.json (signed) and objects/sha256/<hex>

global: --config FILE, --socket PATH ($FLEET_AGENT_SOCKET)
`;

const Int = (what: string) =>
  z.coerce
    .number({ error: `${what} must be a number` })
    .int()
    .nonnegative();

const RunFlags = z.object({
  lxcpath: z.string().startsWith('/', { error: '--lxcpath must be absolute' }).optional(),
  watchdog: z.string().optional(),
  'watchdog-interval-ms': Int('--watchdog-interval-ms').min(100).default(5_000),
  'watchdog-timeout-s': Int('--watchdog-timeout-s').min(1).optional(),
  'slot-a': z.string().optional(),
  'slot-b': z.string().optional(),
  'fw-env-config': z.string().default('/etc/fw_env.config'),
  'poll-ms': Int('--poll-ms').min(10).optional(),
  'goal-timeout-ms': Int('--goal-timeout-ms').min(100).optional(),
  'space-reserve-bytes': Int('--space-reserve-bytes').optional(),
});

const InstallFlags = z.object({
  strategy: z
    .enum(['stop-start', 'hand-over'], { error: '--strategy is stop-start or hand-over' })
    .default('stop-start'),
  'bake-seconds': Int('--bake-seconds').optional(),
});

function parse<S extends z.ZodType>(schema: S, input: unknown): z.output<S> {
  const r = schema.safeParse(input);
  if (!r.success) throw new UsageError(r.error.issues.map((i) => i.message).join('; '));
  return r.data;
}

async function main(argv: string[], io: Io): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    strict: true,
    options: {
      config: { type: 'string' },
      socket: { type: 'string' },
      json: { type: 'boolean', default: false },
      follow: { type: 'boolean', short: 'f', default: false },
      tail: { type: 'string', default: '65536' },
      platform: { type: 'string' },
      'plain-http': { type: 'boolean', default: false },
      strategy: { type: 'string' },
      'bake-seconds': { type: 'string' },
      force: { type: 'boolean', default: false },
      'no-wait': { type: 'boolean', default: false },
      verbose: { type: 'boolean', default: false },
      lxcpath: { type: 'string' },
      watchdog: { type: 'string' },
      'watchdog-interval-ms': { type: 'string' },
      'watchdog-timeout-s': { type: 'string' },
      'slot-a': { type: 'string' },
      'slot-b': { type: 'string' },
      'fw-env-config': { type: 'string' },
      'poll-ms': { type: 'string' },
      'goal-timeout-ms': { type: 'string' },
      'space-reserve-bytes': { type: 'string' },
      help: { type: 'boolean', short: 'h', default: false },
    },
  });
  const [command, ...rest] = positionals;
  if (values.help || !command) {
    io.out(USAGE);
    return command || values.help ? 0 : 2;
  }
  const client = () => clientFor({ socket: values.socket, config: values.config });
  switch (command) {
    case 'run': {
      const f = parse(RunFlags, values);
      if ((f['slot-a'] === undefined) !== (f['slot-b'] === undefined))
        throw new UsageError('--slot-a and --slot-b go together');
      return runCommand(
        {
          configPath: configPathOf(values.config),
          ...(f.lxcpath ? { lxcpath: f.lxcpath } : {}),
          ...(f.watchdog
            ? {
                watchdog: {
                  device: f.watchdog,
                  intervalMs: f['watchdog-interval-ms'],
                  ...(f['watchdog-timeout-s'] !== undefined
                    ? { timeoutSeconds: f['watchdog-timeout-s'] }
                    : {}),
                },
              }
            : {}),
          ...(f['slot-a'] && f['slot-b']
            ? { uboot: { slotA: f['slot-a'], slotB: f['slot-b'], fwEnvConfig: f['fw-env-config'] } }
            : {}),
          ...(f['poll-ms'] !== undefined ? { pollMs: f['poll-ms'] } : {}),
          ...(f['goal-timeout-ms'] !== undefined ? { goalTimeoutMs: f['goal-timeout-ms'] } : {}),
          ...(f['space-reserve-bytes'] !== undefined ? { spaceReserveBytes: f['space-reserve-bytes'] } : {}),
          ...(process.env.FLEET_CRASH_AT ? { crashAt: process.env.FLEET_CRASH_AT } : {}),
        },
        values.verbose,
      );
    }
    case 'status':
      await statusCommand(await client(), io, { json: values.json });
      return 0;
    case 'logs': {
      if (rest.length > 1) throw new UsageError('logs takes at most one container name');
      const tailBytes = parse(Int('--tail'), values.tail);
      const ac = new AbortController();
      const stop = () => ac.abort();
      process.once('SIGINT', stop);
      try {
        await logsCommand(await client(), io, {
          container: rest[0],
          follow: values.follow,
          tailBytes,
          signal: ac.signal,
        });
      } finally {
        process.off('SIGINT', stop);
      }
      return 0;
    }
    case 'import-image':
      if (rest.length !== 1) throw new UsageError('import-image takes one image reference');
      await importImageCommand(await client(), io, {
        ref: rest[0] as string,
        platform: values.platform,
        plainHttp: values['plain-http'],
      });
      return 0;
    case 'install': {
      if (rest.length !== 1) throw new UsageError('install takes one directory');
      const f = parse(InstallFlags, values);
      await installCommand(await client(), io, {
        dir: rest[0] as string,
        strategy: f.strategy,
        bakeSeconds: f['bake-seconds'],
        force: values.force,
        wait: !values['no-wait'],
        json: values.json,
      });
      return 0;
    }
    default:
      throw new UsageError(`unknown command "${command}"`);
  }
}

const io: Io = { out: (t) => process.stdout.write(t), err: (t) => process.stderr.write(t) };
try {
  process.exitCode = await main(process.argv.slice(2), io);
  // The daemon has stopped everything it owns; a handle a library forgot must not keep the
  // process (and a simulated reboot) waiting.
  if (process.argv[2] === 'run') process.exit(process.exitCode);
} catch (e) {
  if (
    e instanceof UsageError ||
    (e instanceof TypeError && (e as NodeJS.ErrnoException).code?.startsWith('ERR_PARSE_ARGS'))
  ) {
    io.err(`fleet-agent: ${e.message}\n\n${USAGE}`);
    process.exitCode = 2;
  } else if (e instanceof AgentUnreachable) {
    io.err(`fleet-agent: ${e.message}\n`);
    process.exitCode = 3;
  } else if (e instanceof ApiError || e instanceof CommandFailed || e instanceof AgentConfigError) {
    io.err(`fleet-agent: ${e.message}\n`);
    process.exitCode = e instanceof CommandFailed ? e.exitCode : 1;
  } else {
    io.err(`fleet-agent: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    process.exitCode = 1;
  }
}

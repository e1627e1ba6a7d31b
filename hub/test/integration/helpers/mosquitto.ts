import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chown, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export const DYNSEC_PLUGIN = '/usr/lib/x86_64-linux-gnu/mosquitto_dynamic_security.so';

export interface MosquittoInstance {
  url: string;
  /** The certificate listener's URL (mqtts://), when started with `tls`. */
  tlsUrl?: string;
  /** Mosquitto's pid_file: SIGHUP reloads the CRL and the acl_file. */
  pidFile: string;
  port: number;
  dir: string;
  admin: { username: string; password: string };
  /** The broker's log so far (for failure messages). */
  log(): Promise<string>;
  /** Stops the broker (SIGTERM) and starts it again on the same port with the same dynsec file. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

/** Asks the kernel for a free port (bound then released; the broker takes it right after). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() =>
        typeof address === 'object' && address !== null
          ? resolve(address.port)
          : reject(new Error('no port')),
      );
    });
  });
}

async function mosquittoUid(): Promise<{ uid: number; gid: number } | undefined> {
  const passwd = await readFile('/etc/passwd', 'utf8');
  const line = passwd.split('\n').find((l) => l.startsWith('mosquitto:'));
  if (line === undefined) return undefined;
  const [, , uid, gid] = line.split(':');
  return { uid: Number(uid), gid: Number(gid) };
}

async function waitForPort(port: number, child: ChildProcess, signal: AbortSignal): Promise<void> {
  for (;;) {
    signal.throwIfAborted();
    if (child.exitCode !== null) throw new Error(`mosquitto exited with ${child.exitCode} before listening`);
    const open = await new Promise<boolean>((resolve) => {
      const socket = createConnection({ port, host: '127.0.0.1' });
      socket.once('connect', () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Starts a real Mosquitto 2.0 with the dynamic security plugin on a free port, with its own
 * config directory and a fresh dynsec file whose admin was made by `mosquitto_ctrl dynsec init`.
 * As root the broker drops to user `mosquitto`, so the directory is handed to that user (the
 * plugin rewrites its file after every command).
 */
/** Extra config for a second, TLS listener; returns its lines (files inside `dir`, chowned with it). */
export type TlsListenerSetup = (dir: string, port: number) => Promise<{ lines: string; files: string[] }>;

export async function startMosquitto(
  opts: {
    tls?: TlsListenerSetup;
    /** More addresses for the plain listener, same port (devices in network namespaces reach a bridge's). */
    extraListenHosts?: string[];
  } = {},
): Promise<MosquittoInstance> {
  const dir = await mkdtemp(join(tmpdir(), 'fleet-mosquitto-'));
  const port = await freePort();
  const tlsPort = opts.tls !== undefined ? await freePort() : undefined;
  const tls = opts.tls !== undefined && tlsPort !== undefined ? await opts.tls(dir, tlsPort) : undefined;
  const pidFile = join(dir, 'mosquitto.pid');
  const admin = { username: 'admin', password: randomBytes(12).toString('hex') };
  const dynsecFile = join(dir, 'dynamic-security.json');
  const logFile = join(dir, 'mosquitto.log');
  await run('mosquitto_ctrl', ['dynsec', 'init', dynsecFile, admin.username, admin.password]);
  const conf = [
    'per_listener_settings false',
    `listener ${port} 127.0.0.1`,
    ...(opts.extraListenHosts ?? []).map((h) => `listener ${port} ${h}`),
    'allow_anonymous false',
    `plugin ${DYNSEC_PLUGIN}`,
    `plugin_opt_config_file ${dynsecFile}`,
    // Without it each $CONTROL answer waits ~45 ms on Nagle + delayed ACK (docs/broker.md).
    'set_tcp_nodelay true',
    // The hub's session absorbs bursts from every device: the default queue of 1000 QoS 1
    // messages per client drops the rest silently (docs/broker.md).
    'max_queued_messages 100000',
    'max_inflight_messages 1000',
    'persistence false',
    `log_dest file ${logFile}`,
    'log_type error',
    'log_type warning',
    'log_type notice',
    'log_type information',
    'connection_messages true',
    `pid_file ${pidFile}`,
    ...(tls !== undefined ? [tls.lines] : []),
  ].join('\n');
  const confFile = join(dir, 'mosquitto.conf');
  await writeFile(confFile, `${conf}\n`);
  if (process.getuid?.() === 0) {
    const owner = await mosquittoUid();
    if (owner !== undefined)
      for (const f of [dir, dynsecFile, confFile, ...(tls?.files ?? [])])
        await chown(f, owner.uid, owner.gid);
  }
  let stderr = '';
  const launch = async () => {
    const child = spawn('mosquitto', ['-c', confFile], { stdio: ['ignore', 'ignore', 'pipe'] });
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    try {
      await waitForPort(port, child, AbortSignal.timeout(15_000));
    } catch (error) {
      child.kill('SIGKILL');
      throw new Error(`mosquitto did not start: ${(error as Error).message}\n${stderr}`, { cause: error });
    }
    return { child, exited };
  };
  let running = await launch();
  const halt = async () => {
    if (running.child.exitCode === null && running.child.signalCode === null) {
      running.child.kill('SIGTERM');
      await running.exited;
    }
  };
  const log = () => readFile(logFile, 'utf8').catch(() => '');
  return {
    url: `mqtt://127.0.0.1:${port}`,
    ...(tlsPort !== undefined ? { tlsUrl: `mqtts://127.0.0.1:${tlsPort}` } : {}),
    pidFile,
    port,
    dir,
    admin,
    log,
    async restart() {
      await halt();
      running = await launch();
    },
    async stop() {
      await halt();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createServer, connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      s.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

export async function waitForPort(port: number, timeoutMs = 10_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const up = await new Promise<boolean>((resolve) => {
      const c = connect(port, '127.0.0.1');
      c.once('connect', () => (c.destroy(), resolve(true)));
      c.once('error', () => resolve(false));
    });
    if (up) return;
    if (Date.now() > until) throw new Error(`nothing listens on 127.0.0.1:${port} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export interface MosquittoInstance {
  url: string;
  port: number;
  /** Stops the broker (SIGTERM, or SIGKILL for a crash) and, unless `keep`, removes its files. */
  stop(opts?: { kill?: boolean; keep?: boolean }): Promise<void>;
  /** Starts it again on the same port with the same persistence file. */
  restart(): Promise<void>;
}

/**
 * A real Mosquitto of our own on a free port, anonymous, with persistence so that a restart
 * keeps sessions and retained messages as a production broker would.
 */
export async function startMosquitto(): Promise<MosquittoInstance> {
  const dir = await mkdtemp(join(tmpdir(), 'fleet-mosq-'));
  const port = await freePort();
  const conf = join(dir, 'mosquitto.conf');
  await writeFile(
    conf,
    [
      `listener ${port} 127.0.0.1`,
      'allow_anonymous true',
      'persistence true',
      `persistence_location ${dir}/`,
      'set_tcp_nodelay true',
      'max_queued_messages 100000',
      `log_dest file ${dir}/mosquitto.log`,
      '',
    ].join('\n'),
  );
  let proc: ChildProcess | undefined;
  const launch = async () => {
    // Logs go to a file: a pipe nobody reads fills up and blocks the broker.
    proc = spawn('mosquitto', ['-c', conf], { stdio: 'ignore' });
    await waitForPort(port);
  };
  await launch();
  const halt = async (kill = false) => {
    const p = proc;
    if (!p || p.exitCode !== null) return;
    const exited = new Promise((r) => p.once('exit', r));
    p.kill(kill ? 'SIGKILL' : 'SIGTERM');
    await exited;
  };
  return {
    url: `mqtt://127.0.0.1:${port}`,
    port,
    async stop(opts = {}) {
      await halt(opts.kill);
      if (!opts.keep) await rm(dir, { recursive: true, force: true });
    },
    async restart() {
      await halt();
      await launch();
    },
  };
}

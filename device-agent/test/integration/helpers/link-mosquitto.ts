import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A port nothing listens on right now. */
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

async function waitForPort(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const c = createConnection({ port, host: '127.0.0.1' });
      c.once('connect', () => (c.destroy(), resolve(true)));
      c.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`mosquitto did not listen on ${port} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export interface MosquittoOptions {
  /** Extra listener lines (TLS). */
  listenerLines?: string[];
}

/**
 * Our own Mosquitto for link tests: a free port, a temp config, anonymous access, persistence
 * in a temp dir (so a stop/start keeps sessions, subscriptions and retained messages the way a
 * production broker restart does).
 */
export class TestMosquitto {
  private proc: ChildProcess | null = null;
  private stderr = '';
  private constructor(
    readonly dir: string,
    readonly port: number,
    private readonly conf: string,
  ) {}

  static async create(opts: MosquittoOptions = {}): Promise<TestMosquitto> {
    const dir = await mkdtemp(join(tmpdir(), 'link-mosquitto-'));
    const port = await freePort();
    const conf = join(dir, 'mosquitto.conf');
    await writeFile(
      conf,
      [
        `listener ${port} 127.0.0.1`,
        ...(opts.listenerLines ?? []),
        'allow_anonymous true',
        'persistence true',
        `persistence_location ${dir}/`,
        // Root in CI: keep root so the broker can write its persistence file in our temp dir.
        'user root',
        'log_dest stderr',
        'log_type error',
        'log_type warning',
        'set_tcp_nodelay true',
        '',
      ].join('\n'),
    );
    const m = new TestMosquitto(dir, port, conf);
    await m.start();
    return m;
  }

  get url(): string {
    return `mqtt://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    if (this.proc) return;
    const p = spawn('mosquitto', ['-c', this.conf], { stdio: ['ignore', 'ignore', 'pipe'] });
    p.stderr?.on('data', (d: Buffer) => (this.stderr += d.toString()));
    this.proc = p;
    await waitForPort(this.port, 10_000).catch((e: Error) => {
      throw new Error(`${e.message}\n${this.stderr}`);
    });
  }

  /** SIGTERM: the broker saves its persistence file and exits. */
  async stop(): Promise<void> {
    const p = this.proc;
    if (!p) return;
    this.proc = null;
    await new Promise<void>((resolve) => {
      if (p.exitCode !== null) return resolve();
      p.once('exit', () => resolve());
      p.kill('SIGTERM');
    });
  }

  async destroy(): Promise<void> {
    await this.stop();
    await rm(this.dir, { recursive: true, force: true });
  }
}

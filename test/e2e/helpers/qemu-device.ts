// An emulated qemu-aarch64 board that is powered on again whenever it goes down: qemu runs
// with -no-reboot, so every reset (the agent's reboot, a failed boot) ends the qemu process and
// the next "power-on" is a new qemu on the same disk image. `powerCut()` kills qemu (SIGKILL,
// no sync: the disk image keeps exactly what the guest had written). Serial output of every
// boot is kept, in order.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { promisify } from 'node:util';

export const run = promisify(execFile);
const IMAGES_DIR = fileURLToPath(new URL('../../../images/', import.meta.url));
const TSX = pathToFileURL(createRequire(join(IMAGES_DIR, 'package.json')).resolve('tsx')).href;

/** The `fleet-image` CLI as a user runs it (images/src/cli/bin.ts through tsx). */
export async function fleetImage(args: string[]): Promise<string> {
  const { stdout } = await run(
    process.execPath,
    ['--conditions=fleet-source', '--import', TSX, 'src/cli/bin.ts', ...args],
    {
      cwd: IMAGES_DIR,
      maxBuffer: 64 * 1024 * 1024,
    },
  );
  return stdout;
}

export async function sha256Hex(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** sha256 (hex) of `length` bytes of a file from `offset`: a slot partition inside a disk image. */
export async function sha256Range(path: string, offset: number, length: number): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path, { start: offset, end: offset + length - 1 }))
    hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/**
 * The A/B boot env of a powered-off disk image, as U-Boot will read it: `fw_printenv` over the
 * board's two redundant copies inside the image file (libubootenv picks the valid, newer one).
 */
export async function readBootEnv(
  disk: string,
  bootState: { envSize: string; offsets: string[] },
  scratch: string,
): Promise<Record<string, string>> {
  const config = join(scratch, `fw_env-${process.pid}-${Date.now()}.config`);
  await writeFile(config, bootState.offsets.map((o) => `${disk} ${o} ${bootState.envSize}\n`).join(''));
  const { stdout } = await run('fw_printenv', ['-c', config]);
  return Object.fromEntries(
    stdout
      .split('\n')
      .filter((l) => l.includes('='))
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );
}

/** Edit a file inside an ext4 image (no mount): debugfs rm + write. */
export async function replaceFileInExt4(
  image: string,
  path: string,
  content: Buffer,
  scratch: string,
): Promise<void> {
  const tmp = join(scratch, `debugfs-${process.pid}-${Date.now()}`);
  await writeFile(tmp, content);
  await run('debugfs', ['-w', '-R', `rm ${path}`, image]);
  await run('debugfs', ['-w', '-R', `write ${tmp} ${path}`, image]);
}

export interface QemuDeviceOptions {
  disk: string;
  /** The board's qemu arguments (board-support qemuArgs) without the NIC. */
  qemuArgs: (disk: string, extra: string[]) => string[];
  /** User-mode networking: the guest sees the host's loopback as 10.0.2.2. */
  network?: boolean;
  /** A single boot running longer than this is killed (a hung guest) and counted. */
  bootTimeoutMs?: number;
}

export class QemuDevice {
  private child: ChildProcess | null = null;
  private stopped = false;
  private cutting = false;
  private readonly logs: string[] = [];
  /** Boots started (power-ons). */
  boots = 0;
  /** Power cuts done by the harness. */
  cuts = 0;
  /** Boots that hung past bootTimeoutMs. */
  hung = 0;
  private exitWaiters: (() => void)[] = [];

  constructor(private readonly options: QemuDeviceOptions) {}

  start(): void {
    this.stopped = false;
    this.powerOn();
  }

  private powerOn(): void {
    if (this.stopped) return;
    this.boots++;
    const index = this.logs.push('') - 1;
    const extra =
      this.options.network === false
        ? ['-nic', 'none']
        : ['-netdev', 'user,id=n0', '-device', 'virtio-net-pci,netdev=n0,romfile='];
    // stdin is the serial line (-nographic): `type()` talks to the guest's console shell.
    const child = spawn('qemu-system-aarch64', this.options.qemuArgs(this.options.disk, extra), {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    child.stdin!.on('error', () => {}); // qemu gone (a cut or a reset) while typing
    this.child = child;
    const onData = (b: Buffer) => (this.logs[index] += b.toString('latin1'));
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    const timer = setTimeout(
      () => {
        this.hung++;
        child.kill('SIGKILL');
      },
      this.options.bootTimeoutMs ?? 20 * 60_000,
    );
    child.once('close', () => {
      clearTimeout(timer);
      if (this.child === child) this.child = null;
      for (const w of this.exitWaiters.splice(0)) w();
      // A reset or power-off: the board is powered on again (unless the harness holds power).
      if (!this.cutting) setTimeout(() => this.powerOn(), 200);
    });
  }

  /** Kill qemu now (a power cut) and, unless `stayOff`, power on again. */
  async powerCut(stayOff = false): Promise<void> {
    const child = this.child;
    if (!child) return;
    this.cuts++;
    this.cutting = true;
    const gone = new Promise<void>((r) => this.exitWaiters.push(r));
    child.kill('SIGKILL');
    await gone;
    this.cutting = false;
    if (!stayOff) this.powerOn();
  }

  /** Type on the serial console of the running boot (false when it is powered off). */
  type(text: string): boolean {
    const stdin = this.child?.stdin;
    if (!stdin || stdin.destroyed) return false;
    stdin.write(text);
    return true;
  }

  /** Serial output of boot `n` (1-based). */
  bootLog(n: number): string {
    return this.logs[n - 1] ?? '';
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.cutting = true;
    const child = this.child;
    if (child) {
      const gone = new Promise<void>((r) => this.exitWaiters.push(r));
      child.kill('SIGKILL');
      await gone;
    }
    this.cutting = false;
  }

  /** Serial output of every boot so far, joined with a separator line per boot. */
  log(): string {
    return this.logs.map((l, i) => `----- boot ${i + 1} -----\n${l}`).join('\n');
  }

  /** Serial output of the current (last) boot. */
  currentLog(): string {
    return this.logs[this.logs.length - 1] ?? '';
  }

  /** Waits until the serial output of any boot from `fromBoot` (1-based) on matches. */
  async waitForLog(
    pattern: RegExp,
    opts: { fromBoot?: number; timeoutMs: number; signal?: AbortSignal },
  ): Promise<void> {
    const deadline = Date.now() + opts.timeoutMs;
    for (;;) {
      if (this.logs.slice((opts.fromBoot ?? 1) - 1).some((l) => pattern.test(l))) return;
      if (Date.now() > deadline)
        throw new Error(`serial output never matched ${pattern}:\n${this.log().slice(-6000)}`);
      await new Promise((r) => setTimeout(r, 250));
    }
  }
}

/** Polls `probe` every `everyMs` until it returns a value (not undefined) or the time is up. */
export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined>,
  timeoutMs: number,
  context: () => string,
  everyMs = 1000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await probe();
      if (v !== undefined) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline)
      throw new Error(
        `timed out waiting for ${what}${last ? ` (last error: ${(last as Error).message})` : ''}\n${context()}`,
      );
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

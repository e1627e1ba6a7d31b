// The agent's bridge for `network: bridge` containers, and the persisted IPAM behind it.
import { execFile } from 'node:child_process';
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { promisify } from 'node:util';
import { RuntimeError } from '../container-runtime.js';
import { Ipam } from './ipam.js';

const run = promisify(execFile);

export interface BridgeOptions {
  /** Interface name (<= 15 chars). */
  readonly name: string;
  readonly subnet: string;
  /** JSON file holding the allocations, so they survive an agent restart. */
  readonly stateFile: string;
}

export class BridgeNetwork {
  private ipam: Ipam | null = null;
  private ensured = false;

  constructor(readonly options: BridgeOptions) {
    if (!/^[a-zA-Z0-9_-]{1,15}$/.test(options.name))
      throw new RuntimeError(`bad bridge name "${options.name}" (1-15 of a-z, 0-9, _ and -)`);
  }

  private async load(): Promise<Ipam> {
    if (this.ipam) return this.ipam;
    let saved: Record<string, string> = {};
    try {
      saved = JSON.parse(await readFile(this.options.stateFile, 'utf8')) as Record<string, string>;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT')
        throw new RuntimeError(`cannot read IPAM state ${this.options.stateFile}: ${(err as Error).message}`);
    }
    this.ipam = new Ipam(this.options.subnet, saved);
    return this.ipam;
  }

  private async save(ipam: Ipam): Promise<void> {
    await mkdir(dirname(this.options.stateFile), { recursive: true });
    const tmp = `${this.options.stateFile}.tmp`;
    await writeFile(tmp, JSON.stringify(ipam.snapshot()));
    await rename(tmp, this.options.stateFile);
  }

  /** Create the bridge with the gateway address if it is missing, and bring it up. */
  async ensure(): Promise<void> {
    if (this.ensured) return;
    const ipam = await this.load();
    const { name } = this.options;
    const exists = await run('ip', ['link', 'show', 'dev', name]).then(
      () => true,
      () => false,
    );
    if (!exists) await run('ip', ['link', 'add', 'name', name, 'type', 'bridge']);
    const addrs = (await run('ip', ['-o', '-4', 'addr', 'show', 'dev', name])).stdout;
    const cidr = `${ipam.gateway}/${ipam.prefix}`;
    if (!addrs.includes(` ${cidr} `)) await run('ip', ['addr', 'add', cidr, 'dev', name]);
    await run('ip', ['link', 'set', 'dev', name, 'up']);
    this.ensured = true;
  }

  async allocate(container: string): Promise<{ addressCidr: string; gateway: string }> {
    const ipam = await this.load();
    const ip = ipam.allocate(container);
    await this.save(ipam);
    return { addressCidr: `${ip}/${ipam.prefix}`, gateway: ipam.gateway };
  }

  /** The address `container` holds, without allocating one (null when it has none). */
  async addressOf(container: string): Promise<string | null> {
    return (await this.load()).snapshot()[container] ?? null;
  }

  /** Every allocation: container -> address. */
  async allocations(): Promise<Record<string, string>> {
    return (await this.load()).snapshot();
  }

  async release(container: string): Promise<void> {
    const ipam = await this.load();
    ipam.release(container);
    await this.save(ipam);
  }

  /** Remove the bridge itself (tests; an agent keeps it). */
  async destroy(): Promise<void> {
    await run('ip', ['link', 'del', 'dev', this.options.name]).catch(() => undefined);
    this.ensured = false;
  }
}

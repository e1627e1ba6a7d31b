// Published ports of `bridge` containers: a host port forwarded (DNAT) to the address of the
// instance that currently serves it. One nftables table per agent bridge holds two verdict
// maps (tcp, udp) `host port -> address . container port`; switching a port from an old
// instance to a new one is one nft transaction (delete + add in a batch), so every new
// connection goes to exactly one of them and conntrack keeps existing ones where they were.
// Decision 0023 says why this and not socket hand-over or SO_REUSEPORT.
import { execFile } from 'node:child_process';
import { readFile, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';
import type { PortMapping } from '@fleet/protocol';
import { RuntimeError } from '../container-runtime.js';
import type { BridgeNetwork } from './bridge.js';

const run = promisify(execFile);

/** `8080/tcp`: a published port's key, as the manifest check and the plan name it. */
export const portKey = (p: Pick<PortMapping, 'host' | 'protocol'>): string => `${p.host}/${p.protocol}`;

export interface PublishOptions {
  /** How long to wait for the new instance to accept connections on its tcp ports. */
  readonly timeoutMs: number;
  readonly signal?: AbortSignal;
}

/** What the reconciler needs: switch ports to an instance, take them away, see who has what. */
export interface PortPublisher {
  /**
   * Waits until the instance accepts tcp connections on every published container port (udp
   * cannot be probed), then points all its host ports at it in one atomic switch.
   */
  publish(instance: string, ports: readonly PortMapping[], o: PublishOptions): Promise<void>;
  /** Removes the host ports that point at the instance (others' are left alone). */
  unpublish(instance: string): Promise<void>;
  /** Instance -> keys of the host ports that point at it now. */
  published(): Promise<Map<string, string[]>>;
}

interface Element {
  readonly key: string;
  readonly host: number;
  readonly protocol: 'tcp' | 'udp';
  readonly address: string;
  readonly port: number;
}

const MAPS = { tcp: 'tcp_ports', udp: 'udp_ports' } as const;

/** PortPublisher on nftables (nft(8)); needs CAP_NET_ADMIN, as the bridge does. */
export class NftPortPublisher implements PortPublisher {
  readonly table: string;
  private ensured = false;

  constructor(private readonly bridge: BridgeNetwork) {
    // nft identifiers: letters, digits, underscores. One table per bridge, so two agents (tests)
    // on different bridges do not share forwarding state.
    this.table = `fleet_${bridge.options.name.replace(/-/g, '_')}`;
  }

  private async nft(script: string): Promise<void> {
    try {
      await new Promise<void>((resolve, reject) => {
        const child = execFile('nft', ['-f', '-'], (err, _out, stderr) =>
          err ? reject(new Error(stderr.trim() || err.message)) : resolve(),
        );
        child.stdin?.end(script);
      });
    } catch (e) {
      throw new RuntimeError(`nft failed: ${(e as Error).message}\n${script}`);
    }
  }

  /**
   * The table, created whole in one transaction when missing (so it is never half there).
   * Locally generated connections to a local address (127.0.0.1 included) go through `output`;
   * those from 127/8 leave through the bridge only with route_localnet, and are masqueraded so
   * the container can answer them (what Docker does without its userland proxy).
   */
  async ensure(): Promise<void> {
    if (this.ensured) return;
    await this.bridge.ensure();
    const exists = await run('nft', ['list', 'table', 'ip', this.table]).then(
      () => true,
      () => false,
    );
    if (!exists) {
      const dnat = ['tcp', 'udp']
        .map((p) => `    fib daddr type local dnat ip to ${p} dport map @${MAPS[p as 'tcp' | 'udp']}`)
        .join('\n');
      await this.nft(`table ip ${this.table} {
  map ${MAPS.tcp} { type inet_service : ipv4_addr . inet_service; }
  map ${MAPS.udp} { type inet_service : ipv4_addr . inet_service; }
  chain prerouting {
    type nat hook prerouting priority dstnat; policy accept;
${dnat}
  }
  chain output {
    type nat hook output priority -100; policy accept;
${dnat}
  }
  chain postrouting {
    type nat hook postrouting priority srcnat; policy accept;
    ip saddr 127.0.0.0/8 oifname "${this.bridge.options.name}" masquerade
  }
}
`);
    }
    await writeFile(`/proc/sys/net/ipv4/conf/${this.bridge.options.name}/route_localnet`, '1');
    this.ensured = true;
  }

  private async elements(): Promise<Element[]> {
    const { stdout } = await run('nft', ['-j', 'list', 'table', 'ip', this.table]);
    const doc = JSON.parse(stdout) as {
      nftables: { map?: { name: string; elem?: [number, { concat: [string, number] }][] } }[];
    };
    const out: Element[] = [];
    for (const item of doc.nftables) {
      const m = item.map;
      if (!m) continue;
      const protocol = m.name === MAPS.tcp ? 'tcp' : m.name === MAPS.udp ? 'udp' : null;
      if (!protocol) continue;
      for (const [host, v] of m.elem ?? []) {
        const [address, port] = v.concat;
        out.push({ key: portKey({ host, protocol }), host, protocol, address, port });
      }
    }
    return out;
  }

  async publish(instance: string, ports: readonly PortMapping[], o: PublishOptions): Promise<void> {
    await this.ensure();
    const address = await this.bridge.addressOf(instance);
    if (!address) throw new RuntimeError(`cannot publish ports of ${instance}: it has no bridge address`);
    for (const p of ports) if (p.protocol === 'tcp') await waitAccepting(address, p.container, instance, o);
    const current = new Map((await this.elements()).map((e) => [e.key, e]));
    const lines: string[] = [];
    for (const p of ports) {
      const have = current.get(portKey(p));
      if (have && have.address === address && have.port === p.container) continue;
      const map = `ip ${this.table} ${MAPS[p.protocol]}`;
      if (have) lines.push(`delete element ${map} { ${p.host} }`);
      lines.push(`add element ${map} { ${p.host} : ${address} . ${p.container} }`);
    }
    // One batch: the switch from the old instance to this one is atomic.
    if (lines.length > 0) await this.nft(`${lines.join('\n')}\n`);
  }

  async unpublish(instance: string): Promise<void> {
    // Host-network instances (no address) cost no nft call: this runs before every stop.
    const address = await this.bridge.addressOf(instance);
    if (!address || !(await this.tableExists())) return;
    const lines = (await this.elements())
      .filter((e) => e.address === address)
      .map((e) => `delete element ip ${this.table} ${MAPS[e.protocol]} { ${e.host} }`);
    if (lines.length > 0) await this.nft(`${lines.join('\n')}\n`);
  }

  async published(): Promise<Map<string, string[]>> {
    const out = new Map<string, string[]>();
    if (!(await this.tableExists())) return out;
    const byAddress = new Map<string, string>();
    for (const [name, ip] of Object.entries(await this.bridge.allocations())) byAddress.set(ip, name);
    for (const e of await this.elements()) {
      const name = byAddress.get(e.address);
      if (name) out.set(name, [...(out.get(name) ?? []), e.key]);
    }
    return out;
  }

  private async tableExists(): Promise<boolean> {
    if (this.ensured) return true;
    return run('nft', ['list', 'table', 'ip', this.table]).then(
      () => true,
      () => false,
    );
  }

  /** Remove the table (tests; an agent keeps it). */
  async destroy(): Promise<void> {
    await run('nft', ['delete', 'table', 'ip', this.table]).catch(() => undefined);
    this.ensured = false;
  }
}

/**
 * Until a tcp connect to address:port succeeds (the app listens), polling every 10 ms. An
 * instance that never listens fails the step after `timeoutMs` with the port named.
 */
async function waitAccepting(
  address: string,
  port: number,
  instance: string,
  o: PublishOptions,
): Promise<void> {
  const deadline = Date.now() + o.timeoutMs;
  for (;;) {
    o.signal?.throwIfAborted();
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect({ host: address, port, timeout: 1000 });
      const done = (v: boolean) => {
        s.destroy();
        resolve(v);
      };
      s.once('connect', () => done(true));
      s.once('error', () => done(false));
      s.once('timeout', () => done(false));
    });
    if (ok) return;
    if (Date.now() >= deadline)
      throw new RuntimeError(
        `${instance} does not accept connections on ${address}:${port} after ${o.timeoutMs} ms`,
      );
    await sleep(10, undefined, o.signal ? { signal: o.signal } : {});
  }
}

/**
 * Connections the network namespace of `pid` accepted and still holds: ESTABLISHED tcp sockets
 * whose local port is one it listens on (so its own outgoing connections do not count). From
 * /proc/<pid>/net/tcp{,6}, which show that process's namespace.
 */
export async function acceptedConnections(pid: number, onlyPorts?: readonly number[]): Promise<number> {
  const rows: string[][] = [];
  for (const f of ['tcp', 'tcp6']) {
    const text = await readFile(`/proc/${pid}/net/${f}`, 'utf8').catch(() => '');
    for (const line of text.split('\n').slice(1)) {
      const cols = line.trim().split(/\s+/);
      if (cols.length > 3) rows.push(cols);
    }
  }
  const port = (addr: string | undefined) => addr?.slice(addr.lastIndexOf(':') + 1) ?? '';
  const only = onlyPorts && new Set(onlyPorts.map((p) => p.toString(16).toUpperCase().padStart(4, '0')));
  const listening = new Set(
    rows.filter((c) => c[3] === '0A' && (!only || only.has(port(c[1])))).map((c) => port(c[1])),
  );
  return rows.filter((c) => c[3] === '01' && listening.has(port(c[1]))).length;
}

/** Until the instance whose init is `pid` holds no accepted connection, or `maxMs` passed. */
export async function drainConnections(pid: number, maxMs: number, signal?: AbortSignal): Promise<boolean> {
  const deadline = Date.now() + maxMs;
  for (;;) {
    if ((await acceptedConnections(pid)) === 0) return true;
    if (Date.now() >= deadline) return false;
    await sleep(10, undefined, signal ? { signal } : {});
  }
}

// A small IPv4 address manager for the agent's bridge: one subnet, the first host address is
// the gateway (the bridge), containers get the lowest free address. Pure; persistence is the
// caller's (the allocations must survive an agent restart so adopted containers keep theirs).
import { RuntimeError } from '../container-runtime.js';

export interface Subnet {
  readonly network: number;
  readonly prefix: number;
}

export function parseIpv4(text: string): number {
  const parts = text.split('.');
  if (parts.length !== 4 || parts.some((p) => !/^\d{1,3}$/.test(p) || Number(p) > 255)) {
    throw new RuntimeError(`not an IPv4 address: "${text}"`);
  }
  return parts.reduce((acc, p) => acc * 256 + Number(p), 0);
}

export function formatIpv4(n: number): string {
  return [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join('.');
}

export function parseSubnet(cidr: string): Subnet {
  const m = /^([\d.]+)\/(\d{1,2})$/.exec(cidr);
  if (!m) throw new RuntimeError(`not an IPv4 subnet in CIDR form: "${cidr}"`);
  const prefix = Number(m[2]);
  if (prefix < 8 || prefix > 30) throw new RuntimeError(`subnet prefix must be /8../30, got /${prefix}`);
  const addr = parseIpv4(m[1] ?? '');
  const size = 2 ** (32 - prefix);
  if (addr % size !== 0)
    throw new RuntimeError(`"${cidr}" has host bits set; use ${formatIpv4(addr - (addr % size))}/${prefix}`);
  return { network: addr, prefix };
}

export class Ipam {
  private readonly byName = new Map<string, number>();
  private readonly used = new Set<number>();
  readonly subnet: Subnet;

  constructor(cidr: string, allocations: Readonly<Record<string, string>> = {}) {
    this.subnet = parseSubnet(cidr);
    for (const [name, ip] of Object.entries(allocations)) {
      const n = parseIpv4(ip);
      if (!this.isHost(n) || n === this.gatewayNumber)
        throw new RuntimeError(`allocation ${name}=${ip} is outside ${cidr} hosts`);
      if (this.used.has(n))
        throw new RuntimeError(`allocation ${name}=${ip} duplicates another container's address`);
      this.byName.set(name, n);
      this.used.add(n);
    }
  }

  private get size(): number {
    return 2 ** (32 - this.subnet.prefix);
  }

  private get gatewayNumber(): number {
    return this.subnet.network + 1;
  }

  private isHost(n: number): boolean {
    return n > this.subnet.network && n < this.subnet.network + this.size - 1;
  }

  get gateway(): string {
    return formatIpv4(this.gatewayNumber);
  }

  get prefix(): number {
    return this.subnet.prefix;
  }

  /** The address of `name`, allocating the lowest free one the first time. */
  allocate(name: string): string {
    const have = this.byName.get(name);
    if (have !== undefined) return formatIpv4(have);
    for (let n = this.gatewayNumber + 1; this.isHost(n); n++) {
      if (!this.used.has(n)) {
        this.used.add(n);
        this.byName.set(name, n);
        return formatIpv4(n);
      }
    }
    throw new RuntimeError(
      `no free address left in ${formatIpv4(this.subnet.network)}/${this.subnet.prefix} for ${name}`,
    );
  }

  release(name: string): void {
    const n = this.byName.get(name);
    if (n === undefined) return;
    this.byName.delete(name);
    this.used.delete(n);
  }

  snapshot(): Record<string, string> {
    return Object.fromEntries([...this.byName].map(([k, v]) => [k, formatIpv4(v)]));
  }
}

import { execFile } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { promisify } from 'node:util';

// Local devices, each in its own network namespace as a board would be: one bridge on the host
// whose address is where devices reach the hub and broker, one veth per device. Used by the
// product (scripts/run.sh, test/product/main.ts) and the real-agent e2e test, so both run
// devices the same way. Needs root.

const exec = promisify(execFile);

/** Runs a command to completion; throws with its stderr when it fails. */
async function sh(command: string, args: readonly string[]): Promise<string> {
  try {
    return (await exec(command, [...args], { maxBuffer: 16 * 1024 * 1024 })).stdout;
  } catch (error) {
    const e = error as { stderr?: string; message: string };
    throw new Error(`${command} ${args.join(' ')} failed: ${(e.stderr ?? e.message).trim().slice(-2000)}`, {
      cause: error,
    });
  }
}

/**
 * A command run inside a network namespace. nsenter, not `ip netns exec`: the latter remounts
 * /sys, which hides /sys/fs/cgroup from liblxc and every container start aborts.
 */
export function inNetns(namespace: string, command: string, args: readonly string[]): [string, string[]] {
  return ['nsenter', [`--net=/run/netns/${namespace}`, command, ...args]];
}

export interface DeviceNetworkOptions {
  /**
   * Short name ([a-z0-9], at most 8) that keeps networks apart: bridge `fleet<id>0`, namespaces
   * `fleet-<id>-<n>`, host veth ends `f<id>h<n>` (Linux interface names are at most 15 bytes).
   */
  id: string;
  /** The first three octets of a /24, e.g. `10.213.0`: the host is .1, device n is .(10+n). */
  subnet: string;
}

export interface DeviceNetwork {
  readonly id: string;
  /** The hub's address as devices see it (the bridge's). */
  readonly hostAddress: string;
  readonly bridge: string;
  namespaceOf(index: number): string;
  addressOf(index: number): string;
  /** Creates what is missing for devices 1..count; a second call reuses what exists. */
  setUp(count: number): Promise<void>;
  /** Removes every namespace of this network (whatever count made them), its veths and the bridge. */
  tearDown(): Promise<void>;
  /** `[command, args]` to spawn `command` inside device `index`'s namespace. */
  command(index: number, command: string, args: readonly string[]): [string, string[]];
  /** Runs a command inside device `index`'s namespace to completion. */
  run(index: number, command: string, args: readonly string[]): Promise<string>;
}

export function deviceNetwork(opts: DeviceNetworkOptions): DeviceNetwork {
  if (!/^[a-z0-9]{1,8}$/.test(opts.id)) throw new Error(`network id must be 1-8 of [a-z0-9], not ${opts.id}`);
  if (!/^\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(opts.subnet))
    throw new Error(`subnet must be three octets like 10.213.0, not ${opts.subnet}`);
  const bridge = `fleet${opts.id}0`;
  const prefix = `fleet-${opts.id}-`;
  const ns = (i: number) => `${prefix}${i}`;
  const veth = (i: number) => `f${opts.id}h${i}`;
  const ip = (...args: string[]) => sh('ip', args);
  const exists = (...args: string[]) =>
    ip(...args).then(
      () => true,
      () => false,
    );
  const inside = (i: number, command: string, args: readonly string[]) => inNetns(ns(i), command, args);
  return {
    id: opts.id,
    hostAddress: `${opts.subnet}.1`,
    bridge,
    namespaceOf: ns,
    addressOf: (i) => `${opts.subnet}.${10 + i}`,
    command: inside,
    run: (i, command, args) => sh(...inside(i, command, args)),
    async setUp(count) {
      if (count > 200) throw new Error('at most 200 devices fit the /24');
      if (!(await exists('link', 'show', bridge))) {
        await ip('link', 'add', bridge, 'type', 'bridge');
        await ip('addr', 'add', `${opts.subnet}.1/24`, 'dev', bridge);
      }
      await ip('link', 'set', bridge, 'up');
      for (let i = 1; i <= count; i++) {
        const name = ns(i);
        if (!(await exists('link', 'show', veth(i)))) {
          // A namespace without its host veth (left by a crash, or by an older naming) may still
          // hold an eth0: start it afresh rather than fail on the name.
          if ((await namespaces()).includes(name)) await ip('netns', 'del', name);
          await ip('netns', 'add', name);
          await ip('link', 'add', veth(i), 'type', 'veth', 'peer', 'name', 'eth0', 'netns', name);
          await ip('link', 'set', veth(i), 'master', bridge);
          await sh(...inside(i, 'ip', ['addr', 'add', `${opts.subnet}.${10 + i}/24`, 'dev', 'eth0']));
        }
        await ip('link', 'set', veth(i), 'up');
        await sh(...inside(i, 'ip', ['link', 'set', 'eth0', 'up']));
        await sh(...inside(i, 'ip', ['link', 'set', 'lo', 'up']));
      }
    },
    async tearDown() {
      // Deleting a namespace deletes its veth end and with it the host end.
      for (const name of await namespaces())
        if (name.startsWith(prefix) && /^\d+$/.test(name.slice(prefix.length)))
          await ip('netns', 'del', name).catch(() => undefined);
      await ip('link', 'del', bridge).catch(() => undefined);
    },
  };
}

/** Names of the network namespaces `ip netns` knows (those bind-mounted under /run/netns). */
export async function namespaces(): Promise<string[]> {
  return readdir('/run/netns').catch(() => [] as string[]);
}

/** Interface names on the host. */
export async function links(): Promise<string[]> {
  const out = await sh('ip', ['-o', 'link', 'show']);
  return out
    .split('\n')
    .map((l) => /^\d+:\s+([^:@\s]+)/.exec(l)?.[1])
    .filter((n): n is string => n !== undefined);
}

/**
 * Stops every container of an LXC path. LXC's command socket is an abstract unix socket, private
 * to the network namespace the container's monitor runs in: ask from the device's namespace.
 */
export async function stopContainers(lxcpath: string, namespace?: string): Promise<void> {
  const cmd = (command: string, args: string[]) =>
    namespace === undefined ? sh(command, args) : sh(...inNetns(namespace, command, args));
  const names = (await cmd('lxc-ls', ['-P', lxcpath, '-1']).catch(() => '')).split(/\s+/).filter(Boolean);
  for (const n of names) await cmd('lxc-stop', ['-P', lxcpath, '-n', n, '-k']).catch(() => undefined);
}

/** Mount points at or under `dir` in this mount namespace, deepest first. */
export async function mountsUnder(dir: string): Promise<string[]> {
  const base = dir.replace(/\/+$/, '');
  return (await readFile('/proc/self/mounts', 'utf8'))
    .split('\n')
    .map((l) => (l.split(' ')[1] ?? '').replace(/\\040/g, ' '))
    .filter((m) => m === base || m.startsWith(`${base}/`))
    .sort((a, b) => b.length - a.length);
}

/**
 * Unmounts everything under `dir`, deepest first, detaching loop devices (`-d`: the agents mount
 * squashfs rootfs images with `-o loop`). Lazy as a last resort for a mount still busy.
 */
export async function releaseMounts(dir: string): Promise<void> {
  for (const m of await mountsUnder(dir))
    await sh('umount', ['-d', m]).catch(() => sh('umount', ['-l', '-d', m]).catch(() => undefined));
  // A loop device left attached without a mount (a crash between losetup and mount).
  for (const loop of await loopDevicesUnder(dir)) await sh('losetup', ['-d', loop]).catch(() => undefined);
}

/** Loop devices whose backing file is under `dir`. */
export async function loopDevicesUnder(dir: string): Promise<string[]> {
  const out = await sh('losetup', ['-l', '-n', '-O', 'NAME,BACK-FILE']).catch(() => '');
  const base = dir.replace(/\/+$/, '');
  return out
    .split('\n')
    .map((l) => l.trim().split(/\s+/))
    .filter(([, file]) => file !== undefined && (file === base || file.startsWith(`${base}/`)))
    .map(([name]) => name ?? '');
}

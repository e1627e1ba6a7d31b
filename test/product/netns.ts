import { run } from './processes.js';

/**
 * One bridge on the host and one network namespace per local device, so each device has its
 * own network stack as a board would. The host end of the bridge is where devices reach the
 * hub. Everything is idempotent: a second run reuses what exists.
 */
export interface DeviceNetwork {
  /** The hub's address as devices see it. */
  hostAddress: string;
  namespaceOf(index: number): string;
  setUp(count: number): Promise<void>;
  tearDown(count: number): Promise<void>;
}

const BRIDGE = 'fleetdemo0';
const SUBNET = '10.213.0';

export function deviceNetwork(): DeviceNetwork {
  const ns = (i: number) => `fleet-demo-${i}`;
  const ip = (...args: string[]) => run('ip', args);
  const exists = async (...args: string[]) =>
    ip(...args).then(
      () => true,
      () => false,
    );
  return {
    hostAddress: `${SUBNET}.1`,
    namespaceOf: ns,
    async setUp(count) {
      if (!(await exists('link', 'show', BRIDGE))) {
        await ip('link', 'add', BRIDGE, 'type', 'bridge');
        await ip('addr', 'add', `${SUBNET}.1/24`, 'dev', BRIDGE);
      }
      await ip('link', 'set', BRIDGE, 'up');
      for (let i = 1; i <= count; i++) {
        const name = ns(i);
        const host = `fdh${i}`;
        if (!(await exists('netns', 'exec', name, 'true'))) await ip('netns', 'add', name);
        if (!(await exists('link', 'show', host))) {
          await ip('link', 'add', host, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', name);
          await ip('link', 'set', host, 'master', BRIDGE);
          await ip('netns', 'exec', name, 'ip', 'addr', 'add', `${SUBNET}.${10 + i}/24`, 'dev', 'eth0');
        }
        await ip('link', 'set', host, 'up');
        await ip('netns', 'exec', name, 'ip', 'link', 'set', 'eth0', 'up');
        await ip('netns', 'exec', name, 'ip', 'link', 'set', 'lo', 'up');
      }
    },
    async tearDown(count) {
      for (let i = 1; i <= count; i++) {
        await ip('link', 'del', `fdh${i}`).catch(() => {});
        await ip('netns', 'del', ns(i)).catch(() => {});
      }
      await ip('link', 'del', BRIDGE).catch(() => {});
    },
  };
}

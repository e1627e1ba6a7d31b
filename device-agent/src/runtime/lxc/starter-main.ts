// The starter process: the only process that calls liblxc's start(), which forks its caller.
// Keeping it a small separate Node process (not the agent) means the agent never lands in a
// container's monitor cgroup, monitors copy a small heap instead of the agent's, and the agent
// is not the parent of any container (decision 0010).
import koffi from 'koffi';
import { createInterface } from 'node:readline';
import { CgroupHome } from './cgroup-home.js';
import { Liblxc } from './liblxc.js';
import {
  parseStartRequest,
  type StartReply,
  type StartRequest,
  type StarterHello,
} from './starter-protocol.js';

const SIGPIPE = 13;
const SIGXFSZ = 25;

function resetInheritedSignals(): void {
  // Node ignores SIGPIPE and SIGXFSZ; ignored dispositions survive fork+exec into the container's
  // init and a shell cannot un-ignore them (research §5.3). Reset them before any start().
  const libc = koffi.load('libc.so.6');
  const signal = libc.func('void *signal(int signum, void *handler)');
  signal(SIGPIPE, null);
  signal(SIGXFSZ, null);
}

function send(msg: StartReply | StarterHello): void {
  process.stdout.write(`${JSON.stringify(msg)}\n`);
}

async function handle(lxc: Liblxc, home: CgroupHome, line: string): Promise<void> {
  let req: StartRequest;
  try {
    req = parseStartRequest(JSON.parse(line));
  } catch (err) {
    const id = (() => {
      try {
        return Number((JSON.parse(line) as { id?: unknown }).id ?? -1);
      } catch {
        return -1;
      }
    })();
    send({
      id: Number.isInteger(id) ? id : -1,
      ok: false,
      error: `bad start request: ${(err as Error).message}`,
    });
    return;
  }
  let c: ReturnType<Liblxc['open']>;
  try {
    c = lxc.open(req.name, req.lxcpath);
  } catch (err) {
    send({ id: req.id, ok: false, error: (err as Error).message });
    return;
  }
  try {
    if (!c.isDefined()) {
      send({ id: req.id, ok: false, error: `container ${req.name} has no config under ${req.lxcpath}` });
      return;
    }
    if (c.isRunning()) {
      send({ id: req.id, ok: false, error: `container ${req.name} is already running` });
      return;
    }
    c.wantDaemonize(true);
    // useinit=0: argv[0] is LXC's static init binary (see config.ts), not liblxc's in-process init.
    const ok = await c.start(req.argv, false);
    home.reenter();
    const pid = ok ? c.initPid() : null;
    send(
      ok
        ? { id: req.id, ok, ...(pid ? { initPid: pid } : {}) }
        : { id: req.id, ok, error: c.errorString() ?? 'liblxc start() returned false' },
    );
  } catch (err) {
    send({ id: req.id, ok: false, error: (err as Error).message });
  } finally {
    c.put();
  }
}

function main(): void {
  // Liblxc.load() first: koffi's stack sizes can only be set before any library is loaded.
  const lxc = Liblxc.load();
  resetInheritedSignals();
  const home = CgroupHome.capture();
  send({ hello: 'fleet-lxc-starter', lxcVersion: lxc.version, pid: process.pid });
  const rl = createInterface({ input: process.stdin });
  const inflight = new Set<Promise<void>>();
  rl.on('line', (line) => {
    const p = handle(lxc, home, line).catch((err: unknown) =>
      send({ id: -1, ok: false, error: String(err) }),
    );
    inflight.add(p);
    void p.finally(() => inflight.delete(p));
  });
  // The agent closed our stdin (it exited or died): finish what is in flight, then leave.
  rl.on('close', () => {
    void Promise.allSettled([...inflight]).then(() => process.exit(0));
  });
}

main();

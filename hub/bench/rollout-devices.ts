// The device side of the rollout benchmark: one slice of the simulated devices (test/sim), in
// its own process (the bench starts several, so one event loop does not carry all 10k sessions).
// Each device announces itself (presence with LWT, report) and updates when its target arrives,
// downloading the release's objects from the hub and checking their digest when `downloads` is
// set. Prints on stdout:
//   `ready` once all are connected;
//   per target: {"t":"target","id","read","handled"} (epoch ms: read off the socket, decoded);
//   every second: {"t":"sample", ...} (this process's CPU, event-loop delay, sessions lost,
//   downloads in flight and waiting), so the bench can tell a busy simulator from a slow broker.
import { readFile } from 'node:fs/promises';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Limiter } from '../../test/sim/downloads.js';
import { seededRng } from '../../test/sim/rng.js';
import { SimulatedDevice } from '../../test/sim/simulated-device.js';
import { DEFAULT_BEHAVIOUR } from '../../test/sim/update-plan.js';

interface Config {
  mqttUrl: string;
  username: string;
  password: string;
  deviceIds: string[];
  /** Index of this slice's first device in the whole fleet (seeds stay the same whatever the split). */
  firstIndex: number;
  /** Object downloads in flight at once in this process; 0: simulated download time. */
  downloadConcurrency: number;
  /** HTTP Basic password for the hub's object store (user `device:<id>`). */
  httpPassword: string;
}

const config = JSON.parse(await readFile(process.argv[2] ?? '', 'utf8')) as Config;
const devices: SimulatedDevice[] = [];
const out: string[] = [];
// stdout to a pipe is synchronous on Linux: write in batches, not once per event.
const flush = () => {
  if (out.length > 0) process.stdout.write(out.splice(0).join(''));
};
setInterval(flush, 200).unref();
const limiter = config.downloadConcurrency > 0 ? new Limiter(config.downloadConcurrency) : undefined;

const queue = [...config.deviceIds.entries()];
async function worker(): Promise<void> {
  for (let next = queue.shift(); next; next = queue.shift()) {
    const [i, deviceId] = next;
    const d = new SimulatedDevice({
      credentials: {
        deviceId,
        mqttUrl: config.mqttUrl,
        username: config.username,
        password: config.password,
        clientId: deviceId,
      },
      board: 'qemu-aarch64',
      agentVersion: '0.1.0',
      protocolVersion: 5,
      behaviour: {
        ...DEFAULT_BEHAVIOUR,
        downloadBytesPerSecond: 64 * 1024 * 1024,
        installMs: 200,
        testMs: 300,
        downloadSteps: 1,
      },
      rng: seededRng(config.firstIndex + i + 1),
      telemetryIntervalMs: 0,
      storageBytes: 8 * 1024 ** 3,
      ...(limiter
        ? { downloads: { limiter, auth: { username: `device:${deviceId}`, password: config.httpPassword } } }
        : {}),
      onEvent: (e) => {
        if (e.type === 'target')
          out.push(
            `${JSON.stringify({ t: 'target', id: e.deviceId, read: e.receivedAt, handled: e.handledAt })}\n`,
          );
      },
    });
    await d.connect();
    devices.push(d);
  }
}
// Connections spread over a few workers: the broker's listen backlog is 100.
await Promise.all(Array.from({ length: 25 }, worker));
out.push('ready\n');
flush();

const eld = monitorEventLoopDelay({ resolution: 10 });
eld.enable();
let cpu = process.cpuUsage();
let last = performance.now();
setInterval(() => {
  const now = performance.now();
  const used = process.cpuUsage(cpu);
  cpu = process.cpuUsage();
  let disconnects = 0;
  for (const d of devices) disconnects += d.stats.disconnects;
  out.push(
    `${JSON.stringify({
      t: 'sample',
      at: Date.now(),
      cpuPercent: Math.round(((used.user + used.system) / 1000 / (now - last)) * 100),
      loopDelayP99Ms: Math.round(eld.percentile(99) / 1e6),
      loopDelayMaxMs: Math.round(eld.max / 1e6),
      disconnects,
      downloadsActive: limiter?.load.active ?? 0,
      downloadsWaiting: limiter?.load.waiting ?? 0,
      rssMiB: Math.round(process.memoryUsage.rss() / 2 ** 20),
    })}\n`,
  );
  eld.reset();
  last = now;
}, 1000).unref();

process.on('SIGTERM', () => {
  flush();
  void Promise.all(devices.map((d) => d.stop().catch(() => undefined))).finally(() => process.exit(0));
});

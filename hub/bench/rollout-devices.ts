// The device side of the rollout benchmark, in its own process: N protocol-faithful simulated
// devices (test/sim) on one broker identity, each announcing itself and updating when its
// target arrives. Prints `ready` once all are connected, then one JSON line per target
// received: {"deviceId", "updateId", "receivedAt"} (epoch ms).
import { readFile } from 'node:fs/promises';
import { seededRng } from '../../test/sim/rng.js';
import { SimulatedDevice } from '../../test/sim/simulated-device.js';
import { DEFAULT_BEHAVIOUR } from '../../test/sim/update-plan.js';

interface Config {
  mqttUrl: string;
  username: string;
  password: string;
  deviceIds: string[];
}

const config = JSON.parse(await readFile(process.argv[2] ?? '', 'utf8')) as Config;
const devices: SimulatedDevice[] = [];
const out: string[] = [];
const flush = () => {
  if (out.length > 0) process.stdout.write(out.splice(0).join(''));
};
setInterval(flush, 200).unref();

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
      rng: seededRng(i + 1),
      telemetryIntervalMs: 0,
      storageBytes: 8 * 1024 ** 3,
      onEvent: (e) => {
        if (e.type === 'target')
          out.push(
            `${JSON.stringify({ deviceId: e.deviceId, updateId: e.updateId, receivedAt: e.receivedAt })}\n`,
          );
      },
    });
    await d.connect();
    devices.push(d);
  }
}
// Connections spread over a few workers: the broker's listen backlog is 100.
await Promise.all(Array.from({ length: 50 }, worker));
process.stdout.write('ready\n');
process.on('SIGTERM', () => {
  flush();
  void Promise.all(devices.map((d) => d.stop().catch(() => undefined))).finally(() => process.exit(0));
});

// The device side of scale.bench.ts, in its own process: N protocol-faithful simulated devices
// (test/sim FleetSimulator) on one shared broker login. Each connects with its retained Last
// Will, announces presence and a report, then sends telemetry (and reports) at the configured
// intervals. Prints `connected <ms>`, then obeys one command per stdin line:
//   `quiet`     stop the periodic telemetry and reports (before a burst is measured)
//   `burst <n>` every device sends n telemetry messages at once; prints `burst-done <messages>`
//   `stop`      clean disconnect of every device, then exit
import { readFile } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { defaultFleetOptions, FleetSimulator, pool } from '../../test/sim/fleet.js';

export interface ScaleDevicesConfig {
  mqttUrl: string;
  username: string;
  password: string;
  deviceIds: string[];
  telemetryIntervalMs: number;
  reportIntervalMs: number;
}

const config = JSON.parse(await readFile(process.argv[2] ?? '', 'utf8')) as ScaleDevicesConfig;
const sim = new FleetSimulator(
  defaultFleetOptions(
    {
      kind: 'shared',
      mqttUrl: config.mqttUrl,
      username: config.username,
      password: config.password,
      deviceIds: config.deviceIds,
    },
    {
      telemetryIntervalMs: config.telemetryIntervalMs,
      reportIntervalMs: config.reportIntervalMs,
      // One sample per message, published when it is taken: the steady phase's latency is
      // publish -> row, measured from the sample's time, which only equals the publish time
      // then. It is also the harder load for the hub (agents send 5 per message by default).
      telemetrySamplesPerMessage: 1,
      // Mosquitto 2.0's listen backlog is 100: more connects in flight get refused.
      concurrency: 100,
    },
  ),
);
const t0 = performance.now();
await sim.start();
process.stdout.write(`connected ${Math.round(performance.now() - t0)}\n`);

for await (const line of createInterface({ input: process.stdin })) {
  const [command, arg] = line.trim().split(' ');
  if (command === 'quiet') {
    for (const d of sim.devices) d.stopPeriodic();
    process.stdout.write('quiet\n');
  } else if (command === 'burst') {
    const n = Number(arg);
    await pool(sim.devices, sim.devices.length, (d) => d.burstTelemetry(n));
    process.stdout.write(`burst-done ${sim.devices.length * n}\n`);
  } else if (command === 'stop') {
    await sim.stop();
    process.exit(0);
  }
}

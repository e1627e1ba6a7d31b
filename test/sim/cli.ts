#!/usr/bin/env node
// fleet-sim: run N simulated devices against a hub (provisioned with a claim token) or an
// anonymous broker, until Ctrl-C. Prints totals every 10 s.
import { parseArgs } from 'node:util';
import { z } from 'zod';
import { defaultFleetOptions, FleetSimulator } from './fleet.js';
import { DEFAULT_BEHAVIOUR } from './update-plan.js';

const Options = z
  .object({
    devices: z.coerce.number().int().min(1).max(100_000).default(100),
    hub: z.url().optional(),
    'claim-token': z.string().optional(),
    mqtt: z.string().optional(),
    'mqtt-version': z.enum(['4', '5']).default('5'),
    'failure-rate': z.coerce.number().min(0).max(1).default(0),
    'timeout-rate': z.coerce.number().min(0).max(1).default(0),
    'telemetry-ms': z.coerce.number().int().min(0).default(60_000),
    // Samples per message, as the agent's telemetryPublishMs / telemetryMs (default 300 s / 60 s).
    'telemetry-samples': z.coerce.number().int().min(1).max(1_000).default(5),
    seed: z.coerce.number().int().default(1),
    board: z.string().default('qemu-aarch64'),
    concurrency: z.coerce.number().int().min(1).default(100),
  })
  .refine((o) => (o.hub && o['claim-token']) || o.mqtt, {
    message: 'give --hub and --claim-token, or --mqtt for an anonymous broker',
  });

const { values } = parseArgs({
  options: Object.fromEntries(
    [
      'devices',
      'hub',
      'claim-token',
      'mqtt',
      'mqtt-version',
      'failure-rate',
      'timeout-rate',
      'telemetry-ms',
      'telemetry-samples',
      'seed',
      'board',
      'concurrency',
    ].map((k) => [k, { type: 'string' as const }]),
  ),
});
const parsed = Options.safeParse(values);
if (!parsed.success) {
  console.error(
    `fleet-sim: ${parsed.error.issues.map((i) => `${i.path.join('.') || 'options'}: ${i.message}`).join('; ')}`,
  );
  process.exit(2);
}
const o = parsed.data;
const sim = new FleetSimulator(
  defaultFleetOptions(
    o.hub && o['claim-token']
      ? { kind: 'hub', hubUrl: o.hub, claimToken: o['claim-token'] }
      : { kind: 'anonymous', mqttUrl: o.mqtt!, idPrefix: 'sim-' },
    {
      count: o.devices,
      seed: o.seed,
      board: o.board,
      protocolVersion: o['mqtt-version'] === '4' ? 4 : 5,
      telemetryIntervalMs: o['telemetry-ms'],
      telemetrySamplesPerMessage: o['telemetry-samples'],
      concurrency: o.concurrency,
      behaviour: { ...DEFAULT_BEHAVIOUR, failureRate: o['failure-rate'], timeoutRate: o['timeout-rate'] },
    },
  ),
);
const started = Date.now();
await sim.start();
console.log(`fleet-sim: ${sim.devices.length} devices connected in ${Date.now() - started} ms`);
const timer = setInterval(() => console.log(`fleet-sim: ${JSON.stringify(sim.totals())}`), 10_000);
const stop = async () => {
  clearInterval(timer);
  await sim.stop();
  process.exit(0);
};
process.once('SIGINT', () => void stop());
process.once('SIGTERM', () => void stop());

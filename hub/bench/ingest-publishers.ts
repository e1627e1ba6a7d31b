// The device side of ingest.bench.ts, in its own process (devices are other machines: their
// MQTT work must not share the hub's event loop). Connects every device, prints "ready", waits
// for "go" on stdin, publishes every telemetry message (QoS 1), writes the publish time of each
// message (epoch ms) to the file named in the config, prints "done".
import { readFile, writeFile } from 'node:fs/promises';
import { pathToFileURL } from 'node:url';
import { deviceTopics, encodeMessage, type TelemetrySample } from '@fleet/protocol';
// Raw device clients come from the integration-test helpers: `mqtt` itself belongs to
// hub/src/mqtt, the agent's link and test code (eslint boundaries).
import { connectRaw, type DeviceSession } from '../test/integration/helpers/mosquitto-clients.js';

export interface PublisherConfig {
  url: string;
  devices: { id: string; username: string; password: string }[];
  messages: number;
  samples: number;
  t0: number;
  publishedFile: string;
}

export function sampleAt(t0: number, index: number): TelemetrySample {
  return {
    time: new Date(t0 + index * 1000).toISOString(),
    cpuPercent: index % 100,
    memUsedBytes: 1000 + index,
    memTotalBytes: 1_000_000,
    diskUsedBytes: 2000 + index,
    diskTotalBytes: 2_000_000,
    temperatureC: 40,
    uptimeSeconds: index,
  };
}

async function main(configFile: string): Promise<void> {
  const config = JSON.parse(await readFile(configFile, 'utf8')) as PublisherConfig;
  const clients: { id: string; client: DeviceSession['client']; payloads: Buffer[] }[] = [];
  // About 100 connects in flight at most: Mosquitto 2.0's listen backlog is 100.
  for (let i = 0; i < config.devices.length; i += 100) {
    await Promise.all(
      config.devices.slice(i, i + 100).map(async (d) => {
        const { client } = await connectRaw(config.url, {
          protocolVersion: 5,
          username: d.username,
          password: d.password,
          clientId: d.id,
        });
        const payloads = Array.from({ length: config.messages }, (_, m) => {
          const encoded = encodeMessage('telemetry', {
            samples: Array.from({ length: config.samples }, (_, k) =>
              sampleAt(config.t0, m * config.samples + k),
            ),
          });
          if (!encoded.ok) throw encoded.error;
          return encoded.value.payload;
        });
        clients.push({ id: d.id, client, payloads });
      }),
    );
  }
  process.stdout.write('ready\n');
  await new Promise<void>((resolve) => process.stdin.once('data', () => resolve()));
  const published: Record<string, number> = {};
  await Promise.all(
    clients.map(({ id, client, payloads }) =>
      Promise.all(
        payloads.map((payload, m) => {
          published[`${id}/${m}`] = Date.now();
          return client.publishAsync(deviceTopics(id).telemetry, payload, { qos: 1 });
        }),
      ),
    ),
  );
  await writeFile(config.publishedFile, JSON.stringify(published));
  for (const { client } of clients) client.end(true);
  process.stdout.write('done\n');
}

// Run only as the entry point (ingest.bench.ts imports sampleAt from here).
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href)
  await main(process.argv[2] ?? '');

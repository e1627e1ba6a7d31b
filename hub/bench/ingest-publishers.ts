// The device side of ingest.bench.ts, in its own process (devices are other machines: their
// MQTT work must not share the hub's event loop). Connects every device, prints "ready", waits
// for "go" on stdin, publishes every telemetry message (QoS 1), waits for every PUBACK, writes
// the publish time of each message (epoch ms, per device by message number) to the file named
// in the config, prints "done".
//
// Two clients (config `client`):
// - `raw` (default): one TCP socket per device speaking MQTT 5 directly; every device's
//   messages are encoded before "go" and written with one socket write, and the process only
//   counts PUBACKs. On the wire this is what mqtt.js sends too (it corks a tick's publishes into
//   one write), so Mosquitto and the hub see the same traffic; what it saves is the simulated
//   devices' own CPU (mqtt.js needed 1.2-1.4 CPU-s here for 10k publishes, as much as half the
//   hub's), which in a fleet runs on the devices, not on the hub's machine.
// - `mqttjs`: mqtt.js clients, `publishAsync` per message (the former publishers), to compare.
import { connect as tcpConnect, type Socket } from 'node:net';
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
  /** `raw` MQTT 5 over plain sockets (default) or mqtt.js clients; see the file's head. */
  client?: 'raw' | 'mqttjs';
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

function payloadsOf(config: PublisherConfig): Buffer[] {
  return Array.from({ length: config.messages }, (_, m) => {
    const encoded = encodeMessage('telemetry', {
      samples: Array.from({ length: config.samples }, (_, k) => sampleAt(config.t0, m * config.samples + k)),
    });
    if (!encoded.ok) throw encoded.error;
    return encoded.value.payload;
  });
}

// ---- raw MQTT 5 (only what a publishing device needs: CONNECT, PUBLISH QoS 1, PUBACK) ----

function varInt(n: number): number[] {
  const out: number[] = [];
  do {
    let digit = n % 128;
    n = Math.floor(n / 128);
    if (n > 0) digit |= 0x80;
    out.push(digit);
  } while (n > 0);
  return out;
}

function str(s: string | Buffer): Buffer {
  const b = typeof s === 'string' ? Buffer.from(s, 'utf8') : s;
  const len = Buffer.alloc(2);
  len.writeUInt16BE(b.length);
  return Buffer.concat([len, b]);
}

function mqttPacket(first: number, body: Buffer): Buffer {
  return Buffer.concat([Buffer.from([first, ...varInt(body.length)]), body]);
}

function connectPacket(clientId: string, username: string, password: string): Buffer {
  // Protocol "MQTT" level 5; flags: user name, password, clean start; keep alive 0 (the run is
  // seconds long); no properties.
  const header = Buffer.concat([str('MQTT'), Buffer.from([5, 0xc2, 0, 0, 0])]);
  return mqttPacket(0x10, Buffer.concat([header, str(clientId), str(username), str(password)]));
}

function publishPacket(topic: string, packetId: number, payload: Buffer): Buffer {
  const id = Buffer.alloc(2);
  id.writeUInt16BE(packetId);
  // QoS 1, no properties.
  return mqttPacket(0x32, Buffer.concat([str(topic), id, Buffer.from([0]), payload]));
}

/**
 * Splits a socket's bytes into MQTT packets: calls `onPacket(type, body)` for each whole one.
 * The body is a view into the chunk, valid only during the call. Parses in place (this runs
 * once per PUBACK, 100k times in a 1-sample run) and copies only a packet split across reads.
 */
function packetReader(onPacket: (type: number, body: Buffer) => void): (chunk: Buffer) => void {
  let tail: Buffer | undefined;
  return (chunk) => {
    const buf = tail === undefined ? chunk : Buffer.concat([tail, chunk]);
    tail = undefined;
    let at = 0;
    while (at < buf.length) {
      let length = 0;
      let multiplier = 1;
      let i = at + 1;
      for (; i < buf.length && i <= at + 4; i++) {
        length += (buf[i]! & 0x7f) * multiplier;
        multiplier *= 128;
        if ((buf[i]! & 0x80) === 0) break;
      }
      if (i >= buf.length || buf.length < i + 1 + length) break;
      onPacket(buf[at]! >> 4, buf.subarray(i + 1, i + 1 + length));
      at = i + 1 + length;
    }
    if (at < buf.length) tail = Buffer.from(buf.subarray(at));
  };
}

interface RawDevice {
  id: string;
  socket: Socket;
  /** Every message of the device, encoded as PUBLISH packets, in one buffer. */
  packets: Buffer;
  acked: Promise<void>;
}

async function connectRawDevice(
  url: URL,
  d: PublisherConfig['devices'][number],
  payloads: Buffer[],
): Promise<RawDevice> {
  const topic = deviceTopics(d.id).telemetry;
  const packets = Buffer.concat(payloads.map((p, m) => publishPacket(topic, m + 1, p)));
  const socket = tcpConnect({ host: url.hostname, port: Number(url.port || 1883), noDelay: true });
  let connected!: () => void;
  let ackedAll!: () => void;
  let rejectConnack!: (e: Error) => void;
  let rejectAcked!: (e: Error) => void;
  const connack = new Promise<void>((resolve, reject) => {
    connected = resolve;
    rejectConnack = reject;
  });
  const acked = new Promise<void>((resolve, reject) => {
    ackedAll = resolve;
    rejectAcked = reject;
  });
  acked.catch(() => undefined); // awaited after "go"; a failure before that rejects connack too
  // Settled promises ignore this: closing the socket after the last PUBACK is no failure.
  const failed = (e: Error) => {
    rejectConnack(e);
    rejectAcked(e);
  };
  let pubacks = 0;
  socket.on(
    'data',
    packetReader((type, body) => {
      if (type === 2) {
        if (body[1] !== 0) failed(new Error(`device ${d.id}: CONNACK reason 0x${body[1]!.toString(16)}`));
        else connected();
      } else if (type === 4) {
        const reason = body.length > 2 ? body[2]! : 0;
        if (reason >= 0x80) failed(new Error(`device ${d.id}: PUBACK reason 0x${reason.toString(16)}`));
        else if (++pubacks === payloads.length) ackedAll();
      } else if (type === 14) {
        failed(new Error(`device ${d.id}: DISCONNECT reason 0x${(body[0] ?? 0).toString(16)}`));
      }
    }),
  );
  socket.on('error', (e) => failed(e));
  socket.on('close', () => failed(new Error(`device ${d.id}: connection closed`)));
  socket.write(connectPacket(d.id, d.username, d.password));
  await connack;
  return { id: d.id, socket, packets, acked };
}

async function mainRaw(config: PublisherConfig): Promise<Record<string, number[]>> {
  const url = new URL(config.url);
  const devices: RawDevice[] = [];
  // About 100 connects in flight at most: Mosquitto 2.0's listen backlog is 100.
  for (let i = 0; i < config.devices.length; i += 100) {
    devices.push(
      ...(await Promise.all(
        config.devices.slice(i, i + 100).map((d) => connectRawDevice(url, d, payloadsOf(config))),
      )),
    );
  }
  process.stdout.write('ready\n');
  await new Promise<void>((resolve) => process.stdin.once('data', () => resolve()));
  const published: Record<string, number[]> = {};
  for (const { id, socket, packets } of devices) {
    published[id] = new Array<number>(config.messages).fill(Date.now());
    socket.write(packets);
  }
  await Promise.all(devices.map((d) => d.acked));
  for (const { socket } of devices) socket.destroy();
  return published;
}

// ---- mqtt.js clients ---------------------------------------------------------------------

async function mainMqttJs(config: PublisherConfig): Promise<Record<string, number[]>> {
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
        clients.push({ id: d.id, client, payloads: payloadsOf(config) });
      }),
    );
  }
  process.stdout.write('ready\n');
  await new Promise<void>((resolve) => process.stdin.once('data', () => resolve()));
  const published: Record<string, number[]> = {};
  await Promise.all(
    clients.map(({ id, client, payloads }) =>
      Promise.all(
        payloads.map((payload, m) => {
          (published[id] ??= [])[m] = Date.now();
          return client.publishAsync(deviceTopics(id).telemetry, payload, { qos: 1 });
        }),
      ),
    ),
  );
  for (const { client } of clients) client.end(true);
  return published;
}

async function main(configFile: string): Promise<void> {
  const config = JSON.parse(await readFile(configFile, 'utf8')) as PublisherConfig;
  const published = config.client === 'mqttjs' ? await mainMqttJs(config) : await mainRaw(config);
  await writeFile(config.publishedFile, JSON.stringify(published));
  process.stdout.write('done\n');
}

// Run only as the entry point (ingest.bench.ts imports sampleAt from here).
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href)
  await main(process.argv[2] ?? '');

import { mkdir, mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AgentConfig, deviceTopics, parseProvisionRequest, type ProvisionResponse } from '@fleet/protocol';
import { AgentLink } from '../../src/link/agent-link.js';
import { hostTelemetrySource, TelemetrySampler } from '../../src/link/telemetry.js';
import { aReport, Observer, recordingLogger, waitFor } from './helpers/link-fixtures.js';
import { TestMosquitto } from './helpers/link-mosquitto.js';

let broker: TestMosquitto;
let work: string;
beforeAll(async () => {
  broker = await TestMosquitto.create();
  work = await mkdtemp(join(tmpdir(), 'link-agent-'));
});
afterAll(async () => {
  await broker?.destroy();
  await rm(work, { recursive: true, force: true });
});

describe('the whole link, as main.ts wires it', () => {
  it('provisions (test double of the hub), connects, and ships reports, telemetry from /proc and logs', async () => {
    const deviceId = `agent-${process.pid}`;
    // TEST DOUBLE of POST /api/v1/provision (the real hub's end-to-end test comes with the hub).
    let provisionCalls = 0;
    const hub = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => {
        provisionCalls++;
        const r = parseProvisionRequest(JSON.parse(Buffer.concat(chunks).toString()));
        if (!r.ok) return void res.writeHead(400).end(JSON.stringify({ message: r.error.message }));
        const body: ProvisionResponse = {
          deviceId,
          fleetId: 'fleet-1',
          mqtt: { url: broker.url, username: deviceId, password: 'pw', clientId: deviceId },
          objectBaseUrl: 'http://127.0.0.1:1/api/v1/objects',
        };
        res.writeHead(201, { 'content-type': 'application/json' }).end(JSON.stringify(body));
      });
    });
    await new Promise<void>((r) => hub.listen(0, '127.0.0.1', r));
    const storageDir = join(work, 'storage');
    const config = AgentConfig.parse({
      hubUrl: `http://127.0.0.1:${(hub.address() as AddressInfo).port}`,
      claimToken: 'claim-token-0123456789',
      board: 'qemu-aarch64',
      storageDir,
      // A sample a second, published every 3 (decision 0037): several samples a message.
      intervals: { telemetryMs: 1_000, telemetryPublishMs: 3_000, logFlushMs: 100 },
    });
    const t = deviceTopics(deviceId);
    const obs = await Observer.connect(broker.url, `obs-${deviceId}`, [
      t.report,
      t.telemetry,
      t.logs,
      t.presence,
    ]);
    const logger = recordingLogger();
    const link = await AgentLink.start({
      config,
      agentVersion: '0.1.0',
      hardwareId: async () => 'hw-agent-test',
      bootId: 'b-1',
      logger,
      handlers: { onTarget: () => {}, onCommand: async () => ({ ok: true }) },
    });
    try {
      expect(provisionCalls).toBe(1);
      expect((await stat(join(storageDir, 'identity', 'credentials.json'))).mode & 0o777).toBe(0o600);
      await waitFor('connected', () => link.session.connected);
      await link.session.publish('report', aReport(7));
      link.logs.push({ source: 'web', stream: 'stdout', text: 'hello from the container' });
      await waitFor(
        'report, telemetry and logs',
        () =>
          obs.decoded(t.report, 'report').length > 0 &&
          obs.decoded(t.telemetry, 'telemetry').length > 0 &&
          obs.decoded(t.logs, 'logs').length > 0,
      );
      expect(obs.decoded(t.report, 'report')[0]?.body.configVersion).toBe(7);
      const sample = obs.decoded(t.telemetry, 'telemetry')[0]?.body.samples[0];
      expect(sample?.memTotalBytes).toBeGreaterThan(0);
      expect(sample?.diskTotalBytes).toBeGreaterThan(0);
      expect(sample?.cpuPercent).toBeGreaterThanOrEqual(0);
      expect(sample?.cpuPercent).toBeLessThanOrEqual(100);
      expect(sample?.uptimeSeconds).toBeGreaterThan(0);
      expect(obs.decoded(t.logs, 'logs')[0]?.body.lines[0]).toMatchObject({
        source: 'web',
        text: 'hello from the container',
      });
      expect(obs.decoded(t.presence, 'presence').at(-1)?.body).toMatchObject({
        state: 'online',
        bootId: 'b-1',
      });
      // One message held the 3 samples of its 3 seconds, each with its own time.
      const first = obs.decoded(t.telemetry, 'telemetry')[0]?.body.samples ?? [];
      expect(first).toHaveLength(3);
      const times = first.map((s) => Date.parse(s.time));
      expect(times[1]! - times[0]!).toBeGreaterThanOrEqual(900);
      expect(times[2]! - times[1]!).toBeGreaterThanOrEqual(900);
    } finally {
      // Samples taken since the last message are flushed by stop(), before the offline presence.
      await waitFor('a sample waiting for the next message', () => (link.telemetry?.buffered ?? 0) > 0);
      const published = () =>
        obs.decoded(t.telemetry, 'telemetry').reduce((n, m) => n + m.body.samples.length, 0);
      const expected = published() + (link.telemetry?.buffered ?? 0);
      await link.stop();
      hub.close();
      await waitFor('the buffered samples, flushed at stop', () => published() >= expected);
      expect(link.telemetry?.dropped).toBe(0);
    }
    await waitFor(
      'graceful offline presence',
      () => obs.decoded(t.presence, 'presence').at(-1)?.body.state === 'offline',
    );
    await obs.close();
  });
});

describe('telemetry sampler on the real machine', () => {
  it('reads /proc and statfs, and takes the hottest thermal zone from a sysfs tree', async () => {
    const sys = join(work, 'sys');
    await mkdir(join(sys, 'class/thermal/thermal_zone0'), { recursive: true });
    await mkdir(join(sys, 'class/thermal/thermal_zone1'), { recursive: true });
    await mkdir(join(sys, 'class/thermal/cooling_device0'), { recursive: true });
    await writeFile(join(sys, 'class/thermal/thermal_zone0/temp'), '45000\n');
    await writeFile(join(sys, 'class/thermal/thermal_zone1/temp'), '61500\n');
    await writeFile(join(sys, 'class/thermal/cooling_device0/cur_state'), '3\n');
    const sampler = new TelemetrySampler({
      source: hostTelemetrySource(),
      storageDir: work,
      sysRoot: sys,
      logger: recordingLogger(),
    });
    const first = await sampler.sample();
    // Burn a little CPU so the second sample has something to measure.
    const until = Date.now() + 200;
    while (Date.now() < until) Math.sqrt(Math.random());
    const second = await sampler.sample();
    expect(first.cpuPercent).toBe(0);
    expect(second.cpuPercent).toBeGreaterThan(0);
    expect(second.cpuPercent).toBeLessThanOrEqual(100);
    expect(second.temperatureC).toBe(61.5);
    expect(second.memUsedBytes).toBeGreaterThan(0);
    expect(second.memUsedBytes).toBeLessThan(second.memTotalBytes);
    expect(second.diskUsedBytes).toBeLessThanOrEqual(second.diskTotalBytes);
    expect(second.load1).toBeGreaterThanOrEqual(0);
    // Without a thermal class (most VMs) there is simply no temperature.
    const none = await new TelemetrySampler({
      source: hostTelemetrySource(),
      storageDir: work,
      sysRoot: join(work, 'nosys'),
      logger: recordingLogger(),
    }).sample();
    expect(none.temperatureC).toBeUndefined();
  });
});

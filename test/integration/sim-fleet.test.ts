// The simulator against a real Mosquitto: a hub-side observer sees protocol-valid messages
// from every simulated device, updates finish with the configured failure rate, and a killed
// device's LWT marks it offline.
import { connectAsync, type MqttClient } from '../support/mqtt-client.js';
import {
  allDevicesFilter,
  decodeMessage,
  deviceTopics,
  encodeMessage,
  parseReleaseManifest,
  parseTopic,
  type Progress,
} from '@fleet/protocol';
import { aContainer, aRelease, hexDigest } from '@fleet/protocol/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { defaultFleetOptions, FleetSimulator } from '../sim/fleet.js';
import { DEFAULT_BEHAVIOUR } from '../sim/update-plan.js';
import { startMosquitto, type MosquittoInstance } from '../support/mosquitto.js';

const N = 200;
let broker: MosquittoInstance;
let hub: MqttClient;
let sim: FleetSimulator;
const seen = {
  invalid: 0,
  presence: new Map<string, string>(),
  progress: new Map<string, Progress[]>(),
  reports: new Set<string>(),
  /** Per telemetry message: its samples' times, ms. */
  telemetry: [] as number[][],
};

async function until(what: string, cond: () => boolean, timeoutMs = 60_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

beforeAll(async () => {
  broker = await startMosquitto();
  hub = await connectAsync(broker.url, { clientId: 'observer', protocolVersion: 5 });
  hub.on('message', (topic, payload) => {
    const t = parseTopic(topic);
    if (!t.ok) return void seen.invalid++;
    const kind = t.value.kind;
    if (kind === 'target' || kind === 'command') return;
    const msg = decodeMessage(kind, payload);
    if (!msg.ok) return void seen.invalid++;
    if (msg.value.kind === 'presence')
      seen.presence.set(t.value.deviceId, (msg.value.body as { state: string }).state);
    if (msg.value.kind === 'report') seen.reports.add(t.value.deviceId);
    if (msg.value.kind === 'telemetry')
      seen.telemetry.push(
        (msg.value.body as { samples: { time: string }[] }).samples.map((x) => Date.parse(x.time)),
      );
    if (msg.value.kind === 'progress') {
      const list = seen.progress.get(t.value.deviceId) ?? [];
      list.push(msg.value.body as Progress);
      seen.progress.set(t.value.deviceId, list);
    }
  });
  await hub.subscribeAsync(
    ['presence', 'report', 'progress', 'telemetry'].map((k) => allDevicesFilter(k as 'report')),
    { qos: 1 },
  );
  sim = new FleetSimulator(
    defaultFleetOptions(
      { kind: 'anonymous', mqttUrl: broker.url, idPrefix: 'sim-' },
      {
        count: N,
        seed: 42,
        telemetryIntervalMs: 500,
        behaviour: {
          ...DEFAULT_BEHAVIOUR,
          failureRate: 0.25,
          downloadBytesPerSecond: 50_000_000,
          installMs: 20,
          testMs: 40,
        },
      },
    ),
  );
  await sim.start();
});

afterAll(async () => {
  await sim?.stop();
  await hub?.endAsync();
  await broker?.stop();
});

describe('fleet simulator on a real broker', () => {
  it('publishes telemetry as the agent does: 5 samples a message (its default), one interval apart', async () => {
    await until('telemetry messages', () => seen.telemetry.length >= 20);
    for (const times of seen.telemetry.slice(0, 20)) {
      expect(times).toHaveLength(5);
      expect(times.slice(1).map((t, i) => t - times[i]!)).toEqual([500, 500, 500, 500]);
    }
  });

  it('brings every device online with a valid presence and report', async () => {
    await until(
      'presence and reports of every device',
      () => seen.presence.size === N && seen.reports.size === N,
    );
    expect([...seen.presence.values()].every((s) => s === 'online')).toBe(true);
    expect(seen.invalid).toBe(0);
  });

  it('applies a target on every device: succeeded or rolled back at about the failure rate', async () => {
    const r = parseReleaseManifest(
      aRelease({
        sequence: 7,
        containers: { web: aContainer({ rootfs: { digest: hexDigest('c'), size: 1_000_000 } }) },
      }),
    );
    if (!r.ok) throw r.error;
    for (const d of sim.devices) {
      const enc = encodeMessage('target', {
        updateId: `u-${d.deviceId}`,
        release: r.value,
        objectBaseUrl: 'http://127.0.0.1:1/api/v1/objects',
      });
      if (!enc.ok) throw enc.error;
      await hub.publishAsync(deviceTopics(d.deviceId).target, enc.value.payload, { qos: 1, retain: true });
    }
    const done = () =>
      [...seen.progress.values()].filter((l) => ['succeeded', 'rolled-back'].includes(l.at(-1)?.status ?? ''))
        .length;
    await until('every update to finish', () => done() === N);
    const last = [...seen.progress.values()].map((l) => l.at(-1)!);
    const rolledBack = last.filter((p) => p.status === 'rolled-back');
    expect(rolledBack.length).toBeGreaterThan(N * 0.1);
    expect(rolledBack.length).toBeLessThan(N * 0.4);
    expect(rolledBack.every((p) => p.reason === 'health-check-failed')).toBe(true);
    // Progress arrives in order per device: percent never goes down.
    for (const list of seen.progress.values()) {
      const p = list.map((x) => x.percent);
      expect([...p].sort((a, b) => a - b)).toEqual(p);
    }
    expect(sim.totals().succeeded + sim.totals().rolledBack).toBe(N);
    expect(seen.invalid).toBe(0);
  });

  it("publishes a killed device's last will: the hub sees it offline", async () => {
    const victim = sim.devices[0]!;
    victim.kill();
    await until('the LWT', () => seen.presence.get(victim.deviceId) === 'offline', 20_000);
  });
});

// Seeds the hub the way real devices would: each device provisions with a claim token over HTTP,
// then speaks protocol messages over MQTT (presence, report, telemetry, logs, progress).
import { generateKeyPairSync } from 'node:crypto';
import {
  decodeMessage,
  encodeMessage,
  manifestDigest,
  topics,
  type Progress,
  type TopicKind,
} from '@fleet/protocol';
import mqtt, { type MqttClient } from './mqtt-client.js';

export class HubApi {
  #cookie = '';
  constructor(readonly url: string) {}

  get cookie(): string {
    return this.#cookie;
  }

  async login(email: string, password: string): Promise<void> {
    const res = await fetch(`${this.url}/api/v1/auth/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ email, password }),
    });
    if (!res.ok) throw new Error(`login: ${res.status} ${await res.text()}`);
    this.#cookie = (res.headers.get('set-cookie') ?? '').split(';')[0]!;
  }

  async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await fetch(`${this.url}${path}`, {
      method,
      headers: {
        cookie: this.#cookie,
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${text}`);
    return (text ? JSON.parse(text) : undefined) as T;
  }
}

export interface SeededDevice {
  id: string;
  name: string;
  client: MqttClient | null;
  publish: <K extends TopicKind>(kind: K, body: Parameters<typeof encodeMessage<K>>[1]) => Promise<void>;
}

const DIGEST = (c: string) => `sha256:${c.repeat(64)}`;
export const REVISIONS = {
  '1.0.0': { digest: DIGEST('1'), version: '1.0.0', sequence: 1 },
  '1.1.0': { digest: DIGEST('2'), version: '1.1.0', sequence: 2 },
} as const;

export interface Fleet {
  fleetId: string;
  devices: SeededDevice[];
  failed: SeededDevice[];
  close: () => Promise<void>;
}

/**
 * `total` devices in fleet "lab": the last `offline` never connect, the first `failed` report a
 * failed update (two reasons), the rest run release 1.0.0 or 1.1.0 with telemetry and logs.
 */
export async function seedFleet(api: HubApi, total: number, offline: number, failed: number): Promise<Fleet> {
  const fleet = await api.call<{ id: string }>('POST', '/api/v1/fleets', {
    name: 'lab',
    description: 'end-to-end test fleet',
  });
  const claim = await api.call<{ token: string }>('POST', `/api/v1/fleets/${fleet.id}/claim-tokens`, {
    name: 'e2e',
    maxUses: total,
  });
  const devices: SeededDevice[] = [];
  for (let i = 0; i < total; i++) {
    const der = generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'der' });
    const name = `e2e-dev-${String(i).padStart(2, '0')}`;
    const prov = await api.call<{
      deviceId: string;
      mqtt: { url: string; username: string; password: string; clientId: string };
    }>('POST', '/api/v1/provision', {
      claimToken: claim.token,
      hardwareId: `hw-${i}`,
      publicKey: der.subarray(der.length - 32).toString('base64'),
      board: i % 3 === 0 ? 'raspberrypi4-64' : 'qemu-aarch64',
      agentVersion: '1.2.0',
      name,
    });
    let client: MqttClient | null = null;
    if (i < total - offline) {
      client = await mqtt.connectAsync(prov.mqtt.url, {
        username: prov.mqtt.username,
        password: prov.mqtt.password,
        clientId: prov.mqtt.clientId,
        protocolVersion: 4,
        reconnectPeriod: 0,
      });
    }
    const c = client;
    devices.push({
      id: prov.deviceId,
      name,
      client,
      publish: async (kind, body) => {
        if (!c) throw new Error(`${name} is offline`);
        const enc = encodeMessage(kind, body);
        if (!enc.ok) throw new Error(`${kind}: ${enc.error.message}`);
        await c.publishAsync(topics.device(prov.deviceId)[kind], enc.value.payload, { qos: 1 });
      },
    });
  }
  await api.call('POST', '/api/v1/devices/tags', {
    deviceIds: devices.filter((_, i) => i % 2 === 0).map((d) => d.id),
    add: ['site=berlin'],
  });
  await api.call('POST', '/api/v1/devices/tags', {
    deviceIds: devices.filter((_, i) => i % 2 === 1).map((d) => d.id),
    add: ['site=paris'],
  });

  // Devices that will connect and report carry `agent=reporting`: the rollout in the e2e test
  // targets them, because the hub's dry run answers 500 for a device that never reported
  // (its failed_revisions is NULL; reported to the lead).
  await api.call('POST', '/api/v1/devices/tags', {
    deviceIds: devices.filter((d) => d.client).map((d) => d.id),
    add: ['agent=reporting'],
  });
  const now = Date.now();
  for (const [i, d] of devices.entries()) {
    if (!d.client) continue;
    const rev = i % 2 === 0 ? REVISIONS['1.1.0'] : REVISIONS['1.0.0'];
    await d.publish('presence', { state: 'online', agentVersion: '1.2.0', bootId: `boot-${i}` });
    await d.publish('report', {
      revision: rev,
      updateState: 'idle',
      board: i % 3 === 0 ? 'raspberrypi4-64' : 'qemu-aarch64',
      agentVersion: '1.2.0',
      containers: [
        {
          name: 'web',
          state: 'running',
          restarts: i % 4,
          startedAt: new Date(now - 3_600_000).toISOString(),
        },
        {
          name: 'db',
          state: i % 5 === 0 ? 'crash-loop' : 'ready',
          restarts: i % 5 === 0 ? 9 : 0,
          ...(i % 5 === 0 ? { exitCode: 137, message: 'OOM killed' } : {}),
        },
      ],
      inventory: { objects: [], freeBytes: 2e9, totalBytes: 8e9 },
      failedRevisions: [],
    });
    await d.publish('telemetry', {
      samples: Array.from({ length: 30 }, (_, k) => ({
        time: new Date(now - (30 - k) * 60_000).toISOString(),
        cpuPercent: 10 + ((k * 7 + i) % 60),
        memUsedBytes: 200e6 + k * 3e6,
        memTotalBytes: 1024e6,
        diskUsedBytes: 3e9 + k * 1e6,
        diskTotalBytes: 8e9,
        temperatureC: 45 + (k % 10),
        uptimeSeconds: 3600 + k * 60,
      })),
    });
    await d.publish('logs', {
      lines: [
        {
          time: new Date(now - 120_000).toISOString(),
          source: 'web',
          stream: 'stdout',
          text: `${d.name} web: listening on :80`,
        },
        {
          time: new Date(now - 60_000).toISOString(),
          source: 'db',
          stream: 'stderr',
          text: `${d.name} db: checkpoint complete`,
        },
      ],
    });
  }
  const failedDevices = devices.slice(0, failed);
  for (const [i, d] of failedDevices.entries()) {
    await d.publish('progress', {
      updateId: `u-${i}`,
      revision: REVISIONS['1.1.0'],
      state: 'idle',
      status: i % 2 === 0 ? 'failed' : 'rolled-back',
      percent: 100,
      reason: i % 2 === 0 ? 'health-check-failed' : 'boot-failed',
      message: i % 2 === 0 ? 'web did not become ready in 60 s' : 'kernel did not reach userspace',
      ...(i % 2 === 1 ? { failedBootLog: 'VFS: Unable to mount root fs on unknown-block(179,2)' } : {}),
    });
  }

  // Ingest is asynchronous (batched): wait, bounded, until the hub has taken everything in.
  const online = total - offline;
  for (let t = 0; t < 60; t++) {
    const s = await api.call<{ online: number; failed: number }>(
      'GET',
      `/api/v1/devices/summary?fleetId=${fleet.id}`,
    );
    if (s.online === online && s.failed >= failed) break;
    await new Promise((r) => setTimeout(r, 500));
  }
  return {
    fleetId: fleet.id,
    devices,
    failed: failedDevices,
    close: async () => {
      await Promise.all(devices.map((d) => d.client?.endAsync()));
    },
  };
}

/**
 * Makes the online devices behave like agents towards a rollout: on a target they report
 * downloading, installing, testing and succeeded (or, for `failing` devices, a failed health
 * check), `stepMs` apart, then a report on the new revision. Returns the stop function.
 */
export async function actLikeAgents(
  devices: SeededDevice[],
  stepMs: number,
  failing: ReadonlySet<string> = new Set(),
): Promise<() => void> {
  const timers = new Set<ReturnType<typeof setTimeout>>();
  for (const d of devices) {
    const client = d.client;
    if (!client) continue;
    await client.subscribeAsync(topics.device(d.id).target, { qos: 1 });
    client.on('message', (topic, payload) => {
      if (topic !== topics.device(d.id).target || payload.length === 0) return;
      const decoded = decodeMessage('target', payload);
      if (!decoded.ok) return;
      const target = decoded.value.body;
      const revision = {
        digest: manifestDigest(target.release),
        version: target.release.version,
        sequence: target.release.sequence,
      };
      const fail = failing.has(d.id);
      const steps: Array<Omit<Progress, 'updateId' | 'revision'>> = [
        { state: 'downloading', status: 'downloading', percent: 30 },
        { state: 'installing', status: 'installing', percent: 70 },
        { state: 'testing', status: 'testing', percent: 90 },
        fail
          ? {
              state: 'idle',
              status: 'failed',
              percent: 100,
              reason: 'health-check-failed',
              message: 'web did not become ready',
            }
          : { state: 'idle', status: 'succeeded', percent: 100 },
      ];
      steps.forEach((step, i) => {
        const t = setTimeout(
          () => {
            timers.delete(t);
            void d.publish('progress', { updateId: target.updateId, revision, ...step }).catch(() => {});
          },
          stepMs * (i + 1),
        );
        timers.add(t);
      });
    });
  }
  return () => {
    for (const t of timers) clearTimeout(t);
    timers.clear();
  };
}

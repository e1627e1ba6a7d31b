import { generateKeyPairSync } from 'node:crypto';
import { parseProvisionResponse, type ProvisionRequest } from '@fleet/protocol';
import { Limiter } from './downloads.js';
import { deviceSeed, seededRng } from './rng.js';
import { emptyStats, SimulatedDevice, type DeviceCredentials, type SimEvent } from './simulated-device.js';
import { DEFAULT_BEHAVIOUR, type UpdateBehaviour } from './update-plan.js';

export interface FleetOptions {
  count: number;
  seed: number;
  board: string;
  agentVersion: string;
  protocolVersion: 4 | 5;
  behaviour: UpdateBehaviour;
  telemetryIntervalMs: number;
  /** Samples per telemetry message (the agent's telemetryPublishMs / telemetryMs); default 5, as the agent. */
  telemetrySamplesPerMessage?: number;
  storageBytes: number;
  /** Connections (and provisioning requests) in flight at once. */
  concurrency: number;
  /**
   * Where identities come from: `hub` provisions each device with a claim token, exactly as
   * an agent does on first boot; `anonymous` connects to a broker that needs no credentials.
   */
  identity:
    | { kind: 'hub'; hubUrl: string; claimToken: string }
    | { kind: 'anonymous'; mqttUrl: string; idPrefix: string }
    /**
     * Devices already in the hub's database sharing one broker login (benchmarks at 10k devices:
     * provisioning each through Mosquitto's dynamic security costs minutes, docs/broker.md).
     */
    | { kind: 'shared'; mqttUrl: string; username: string; password: string; deviceIds: readonly string[] };
  /** Periodic reports, as the agent sends every `intervals.reportMs` (absent: only on change). */
  reportIntervalMs?: number;
  /**
   * Download the target's objects from the hub (digest checked) with at most this many requests
   * in flight over the whole fleet; absent: downloads are simulated by `behaviour`'s speed.
   */
  downloadConcurrency?: number;
  onEvent?: (e: SimEvent) => void;
}

export const defaultFleetOptions = (
  identity: FleetOptions['identity'],
  over: Partial<FleetOptions> = {},
): FleetOptions => ({
  count: 100,
  seed: 1,
  board: 'qemu-aarch64',
  agentVersion: '0.1.0',
  protocolVersion: 5,
  behaviour: DEFAULT_BEHAVIOUR,
  telemetryIntervalMs: 60_000,
  storageBytes: 8 * 1024 ** 3,
  concurrency: 100,
  identity,
  ...over,
});

/** Runs `fn` over `items` with at most `limit` in flight. */
export async function pool<T, R>(
  items: readonly T[],
  limit: number,
  fn: (item: T, i: number) => Promise<R>,
): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/** The request a fresh device sends: a new ed25519 key of its own, raw public key in base64. */
export function provisionRequest(
  claimToken: string,
  hardwareId: string,
  board: string,
  agentVersion: string,
): ProvisionRequest {
  const { publicKey } = generateKeyPairSync('ed25519');
  const der = publicKey.export({ type: 'spki', format: 'der' });
  return {
    claimToken,
    hardwareId,
    publicKey: der.subarray(der.length - 32).toString('base64'),
    board,
    agentVersion,
  };
}

/** Provisions one simulated device through the hub's real provisioning endpoint. */
export async function provision(
  hubUrl: string,
  claimToken: string,
  hardwareId: string,
  board: string,
  agentVersion: string,
): Promise<DeviceCredentials> {
  const body = provisionRequest(claimToken, hardwareId, board, agentVersion);
  const res = await fetch(new URL('/api/v1/provision', hubUrl), {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  const text = await res.text();
  if (!res.ok) throw new Error(`provisioning ${hardwareId} failed: HTTP ${res.status} ${text.slice(0, 300)}`);
  const parsed = parseProvisionResponse(JSON.parse(text));
  if (!parsed.ok) throw parsed.error;
  const r = parsed.value;
  return {
    deviceId: r.deviceId,
    mqttUrl: r.mqtt.url,
    username: r.mqtt.username,
    password: r.mqtt.password,
    clientId: r.mqtt.clientId,
  };
}

/** Thousands of simulated devices in one process, each with its own MQTT session. */
export class FleetSimulator {
  readonly devices: SimulatedDevice[] = [];

  constructor(private readonly opts: FleetOptions) {}

  async start(): Promise<void> {
    const o = this.opts;
    const identity = o.identity;
    const count = identity.kind === 'shared' ? identity.deviceIds.length : o.count;
    const indexes = Array.from({ length: count }, (_, i) => i);
    const limiter = o.downloadConcurrency !== undefined ? new Limiter(o.downloadConcurrency) : undefined;
    await pool(indexes, o.concurrency, async (i) => {
      const credentials: DeviceCredentials =
        identity.kind === 'hub'
          ? await provision(
              identity.hubUrl,
              identity.claimToken,
              `sim-${o.seed}-${i}`,
              o.board,
              o.agentVersion,
            )
          : identity.kind === 'shared'
            ? {
                deviceId: identity.deviceIds[i]!,
                mqttUrl: identity.mqttUrl,
                username: identity.username,
                password: identity.password,
              }
            : { deviceId: `${identity.idPrefix}${i}`, mqttUrl: identity.mqttUrl };
      const device = new SimulatedDevice({
        credentials,
        board: o.board,
        agentVersion: o.agentVersion,
        protocolVersion: o.protocolVersion,
        behaviour: o.behaviour,
        rng: seededRng(deviceSeed(o.seed, i)),
        telemetryIntervalMs: o.telemetryIntervalMs,
        ...(o.telemetrySamplesPerMessage !== undefined
          ? { telemetrySamplesPerMessage: o.telemetrySamplesPerMessage }
          : {}),
        ...(o.reportIntervalMs !== undefined ? { reportIntervalMs: o.reportIntervalMs } : {}),
        storageBytes: o.storageBytes,
        ...(o.onEvent ? { onEvent: o.onEvent } : {}),
        ...(limiter ? { downloads: { limiter } } : {}),
      });
      await device.connect();
      this.devices.push(device);
    });
  }

  async stop(): Promise<void> {
    await pool(this.devices, this.opts.concurrency, (d) => d.stop());
  }

  totals(): SimulatedDevice['stats'] {
    const t = emptyStats();
    for (const d of this.devices) for (const k of Object.keys(t) as (keyof typeof t)[]) t[k] += d.stats[k];
    return t;
  }
}

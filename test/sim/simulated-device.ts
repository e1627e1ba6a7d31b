import { connectAsync, type IClientOptions, type MqttClient } from '../support/mqtt-client.js';
import {
  decodeMessage,
  deviceTopics,
  manifestObjects,
  encodeMessage,
  type Command,
  type Digest,
  type MessageBodyInput,
  type RevisionRef,
  type Target,
  type TopicKind,
  type UplinkKind,
} from '@fleet/protocol';
import { downloadObjects, type Limiter } from './downloads.js';
import type { Rng } from './rng.js';
import { planUpdate, type UpdateBehaviour, type UpdatePlan } from './update-plan.js';

export interface DeviceCredentials {
  deviceId: string;
  mqttUrl: string;
  username?: string;
  password?: string;
  clientId?: string;
}

export interface SimulatedDeviceOptions {
  credentials: DeviceCredentials;
  board: string;
  agentVersion: string;
  /** 4 = MQTT 3.1.1 (the embedded aedes broker), 5 = MQTT 5 (Mosquitto). */
  protocolVersion: 4 | 5;
  behaviour: UpdateBehaviour;
  rng: Rng;
  /** A telemetry sample every this many ms (the agent's `intervals.telemetryMs`); 0: none. */
  telemetryIntervalMs: number;
  /**
   * Samples per telemetry message, as the agent gathers them (decision 0037): its
   * `telemetryPublishMs / telemetryMs`, default 5 (300 s / 60 s). A message leaves every
   * `telemetryIntervalMs × telemetrySamplesPerMessage`.
   */
  telemetrySamplesPerMessage?: number;
  /** Periodic reports, as the real agent sends every `intervals.reportMs`; 0 or absent: only on change. */
  reportIntervalMs?: number;
  /** Bytes the simulated storage holds. */
  storageBytes: number;
  /** Called on every event worth counting (for load reports). */
  onEvent?: (event: SimEvent) => void;
  /**
   * Download each missing object from the target's `objectBaseUrl` and check its digest, as the
   * agent does, instead of waiting `downloadBytesPerSecond`. The limiter is shared by the
   * devices of a process; `auth` defaults to the broker credentials (what the agent sends).
   */
  downloads?: { limiter: Limiter; auth?: { username: string; password: string } };
}

export type SimEvent =
  | { type: 'published'; kind: UplinkKind; deviceId: string }
  /**
   * `receivedAt`: when the process read the target off the socket (mqtt.js parsed the packet,
   * before any decoding); `handledAt`: when the device's handler had it decoded.
   */
  | { type: 'target'; deviceId: string; updateId: string; receivedAt: number; handledAt: number }
  | { type: 'outcome'; deviceId: string; updateId: string; outcome: UpdatePlan['outcome'] | 'failed' }
  | { type: 'command'; deviceId: string; name: Command['name'] }
  | { type: 'invalid'; deviceId: string; kind: TopicKind; message: string };

/**
 * One protocol-faithful simulated device: presence with a retained LWT, reports, telemetry,
 * commands with acknowledgements and update progress, over its own MQTT session, exactly as a
 * real fleet-agent would send them. It runs no containers: updates follow `planUpdate`.
 */
export class SimulatedDevice {
  private client: MqttClient | undefined;
  private readonly topics;
  private revision: RevisionRef | null = null;
  private readonly objects = new Set<Digest>();
  private readonly failed = new Set<Digest>();
  /** Every revision committed here; a real agent keeps them for rollback. */
  private readonly committed = new Map<Digest, RevisionRef>();
  private updating: { updateId: string; abort: AbortController } | undefined;
  private telemetryTimer: NodeJS.Timeout | undefined;
  private reportTimer: NodeJS.Timeout | undefined;
  private configVersion = 0;
  private cpu = 5;
  private killed = false;
  private stopping = false;
  /** When the last target PUBLISH was parsed off the socket (see the `target` event). */
  private targetReadAt = 0;
  readonly stats = emptyStats();
  readonly samplesPerMessage: number;

  constructor(private readonly opts: SimulatedDeviceOptions) {
    this.topics = deviceTopics(opts.credentials.deviceId);
    this.samplesPerMessage = opts.telemetrySamplesPerMessage ?? 5;
    if (
      !Number.isInteger(this.samplesPerMessage) ||
      this.samplesPerMessage < 1 ||
      this.samplesPerMessage > 1_000
    )
      throw new RangeError(
        `telemetrySamplesPerMessage must be an integer in 1..1000, got ${this.samplesPerMessage}`,
      );
  }

  get deviceId(): string {
    return this.opts.credentials.deviceId;
  }

  get currentRevision(): RevisionRef | null {
    return this.revision;
  }

  async connect(): Promise<void> {
    this.stopping = false;
    const c = this.opts.credentials;
    const will = this.envelope('presence', { state: 'offline', agentVersion: this.opts.agentVersion });
    const options: IClientOptions = {
      clientId: c.clientId ?? c.deviceId,
      protocolVersion: this.opts.protocolVersion,
      clean: false,
      keepalive: 30,
      reconnectPeriod: 1000,
      connectTimeout: 30_000,
      will: { topic: this.topics.presence, payload: will, qos: 1, retain: true },
      ...(this.opts.protocolVersion === 5 ? { properties: { sessionExpiryInterval: 3600 } } : {}),
      ...(c.username ? { username: c.username } : {}),
      ...(c.password ? { password: c.password } : {}),
    };
    this.client = await connectAsync(c.mqttUrl, options);
    // The first moment the process has the message: mqtt.js emits this as it parses the bytes it
    // read, before the 'message' handlers and any decoding.
    this.client.on('packetreceive', (p) => {
      if (p.cmd === 'publish' && p.topic === this.topics.target) this.targetReadAt = Date.now();
    });
    this.client.on('close', () => {
      if (!this.killed && !this.stopping) this.stats.disconnects++;
    });
    this.client.on('message', (topic, payload) => this.onMessage(topic, payload));
    this.client.on('connect', () => void this.announce());
    await this.client.subscribeAsync([this.topics.target, this.topics.command], { qos: 1 });
    await this.announce();
    const reportMs = this.opts.reportIntervalMs ?? 0;
    if (reportMs > 0) {
      clearInterval(this.reportTimer);
      this.reportTimer = setInterval(() => void this.sendReport().catch(() => {}), reportMs);
    }
    if (this.opts.telemetryIntervalMs > 0) {
      // One timer per message, not per sample: the samples of a message are made when it leaves,
      // dated one interval apart up to then (what the agent gathered), so 10k devices cost a
      // timer firing per message. Random phase: thousands of devices do not publish in lockstep.
      const every = this.opts.telemetryIntervalMs * this.samplesPerMessage;
      const first = this.opts.rng() * every;
      this.telemetryTimer = setTimeout(() => {
        void this.sendTelemetry();
        this.telemetryTimer = setInterval(() => void this.sendTelemetry(), every);
      }, first);
    }
  }

  /** Stops the periodic telemetry and reports; the session stays up. */
  stopPeriodic(): void {
    clearTimeout(this.telemetryTimer);
    clearInterval(this.telemetryTimer);
    clearInterval(this.reportTimer);
  }

  /** Clean stop: presence offline, then disconnect. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.updating?.abort.abort();
    clearTimeout(this.telemetryTimer);
    clearInterval(this.telemetryTimer);
    clearInterval(this.reportTimer);
    const client = this.client;
    if (!client || this.killed) return;
    if (client.connected) {
      // Bounded: a broker that went away must not hold the simulator's shutdown.
      await Promise.race([
        this.publish('presence', { state: 'offline', agentVersion: this.opts.agentVersion }, true).catch(
          () => {},
        ),
        new Promise((r) => setTimeout(r, 2000)),
      ]);
    }
    await client.endAsync(!client.connected);
  }

  /** A power cut: the socket drops without DISCONNECT, so the broker publishes the LWT. */
  kill(): void {
    this.killed = true;
    this.updating?.abort.abort();
    clearTimeout(this.telemetryTimer);
    clearInterval(this.telemetryTimer);
    clearInterval(this.reportTimer);
    this.client?.stream.destroy();
    this.client?.end(true);
  }

  private async announce(): Promise<void> {
    await this.publish('presence', { state: 'online', agentVersion: this.opts.agentVersion }, true);
    await this.sendReport();
  }

  private envelope<K extends UplinkKind>(kind: K, body: MessageBodyInput<K>): Buffer {
    const enc = encodeMessage(kind, body);
    // A simulator that builds an invalid message has a bug: fail loudly.
    if (!enc.ok) throw enc.error;
    return enc.value.payload;
  }

  private async publish<K extends UplinkKind>(
    kind: K,
    body: MessageBodyInput<K>,
    retain = false,
  ): Promise<void> {
    if (!this.client) return;
    await this.client.publishAsync(this.topics[kind], this.envelope(kind, body), {
      // QoS 1 for every kind, as the agent publishes them (device-agent/src/link/session.ts).
      qos: 1,
      retain,
    });
    this.stats.published++;
    this.opts.onEvent?.({ type: 'published', kind, deviceId: this.deviceId });
  }

  private usedBytes(): number {
    return Math.min(this.opts.storageBytes, 64 * 1024 * 1024 + this.objects.size * 2 * 1024 * 1024);
  }

  async sendReport(): Promise<void> {
    await this.publish('report', {
      revision: this.revision,
      updateState: 'idle',
      board: this.opts.board,
      agentVersion: this.opts.agentVersion,
      configVersion: this.configVersion,
      containers: this.revision ? [{ name: 'app', state: 'running', restarts: 0 }] : [],
      inventory: {
        objects: [...this.objects],
        freeBytes: this.opts.storageBytes - this.usedBytes(),
        totalBytes: this.opts.storageBytes,
      },
      failedRevisions: [...this.failed],
    });
  }

  /**
   * `count` telemetry messages at once (a device catching up, or a load test) of
   * `samplesPerMessage` samples each (default 1: benchmarks count rows as messages), dated 1 ms
   * apart up to now so that no two collide on the hub's (device, time) key.
   */
  async burstTelemetry(count: number, samplesPerMessage = 1): Promise<void> {
    const now = Date.now();
    for (let i = count - 1; i >= 0; i--)
      await this.sendTelemetry(now - i * samplesPerMessage, samplesPerMessage, 1);
  }

  /** One message of `n` samples, the last dated `at`, the others `stepMs` apart before it. */
  private async sendTelemetry(
    at = Date.now(),
    n = this.samplesPerMessage,
    stepMs = this.opts.telemetryIntervalMs,
  ): Promise<void> {
    const samples: MessageBodyInput<'telemetry'>['samples'] = [];
    for (let k = n - 1; k >= 0; k--) {
      this.cpu = Math.min(100, Math.max(0, this.cpu + (this.opts.rng() - 0.5) * 10));
      samples.push({
        time: new Date(at - k * stepMs).toISOString(),
        cpuPercent: Math.round(this.cpu * 10) / 10,
        memUsedBytes: 200 * 1024 * 1024 + Math.floor(this.opts.rng() * 50 * 1024 * 1024),
        memTotalBytes: 1024 * 1024 * 1024,
        diskUsedBytes: this.usedBytes(),
        diskTotalBytes: this.opts.storageBytes,
        temperatureC: 40 + Math.round(this.opts.rng() * 150) / 10,
      });
    }
    await this.publish('telemetry', { samples }).catch(() => {});
  }

  private onMessage(topic: string, payload: Buffer): void {
    if (topic === this.topics.target) {
      const readAt = this.targetReadAt || Date.now();
      const msg = decodeMessage('target', payload);
      if (!msg.ok)
        return this.opts.onEvent?.({
          type: 'invalid',
          deviceId: this.deviceId,
          kind: 'target',
          message: msg.error.message,
        });
      void this.onTarget(msg.value.body, readAt);
    } else if (topic === this.topics.command) {
      const msg = decodeMessage('command', payload);
      if (!msg.ok)
        return this.opts.onEvent?.({
          type: 'invalid',
          deviceId: this.deviceId,
          kind: 'command',
          message: msg.error.message,
        });
      void this.onCommand(msg.value.body);
    }
  }

  private async onTarget(target: Target, receivedAt: number): Promise<void> {
    this.opts.onEvent?.({
      type: 'target',
      deviceId: this.deviceId,
      updateId: target.updateId,
      receivedAt,
      handledAt: Date.now(),
    });
    if (this.updating?.updateId === target.updateId) return; // a retained redelivery after reconnect
    // A newer target supersedes one in flight, as the real agent's single-flight runner does.
    this.updating?.abort.abort();
    const abort = new AbortController();
    this.updating = { updateId: target.updateId, abort };
    this.configVersion = Math.max(this.configVersion, target.configVersion);
    const plan = planUpdate(
      {
        revision: this.revision,
        committed: this.committed,
        objects: this.objects,
        failedRevisions: this.failed,
        board: this.opts.board,
      },
      target,
      this.opts.behaviour,
      this.opts.rng,
    );
    this.stats.updates++;
    const downloads = this.opts.downloads;
    let downloaded = false;
    try {
      for (const step of plan.steps) {
        // Real downloads replace the simulated download time: all of it at the first step past 0 %.
        const downloadStep = downloads && step.progress.state === 'downloading' && step.progress.percent > 0;
        if (downloadStep && !downloaded) {
          downloaded = true;
          const failure = await this.download(target, plan.download.digests, abort.signal);
          if (abort.signal.aborted) return;
          if (failure) {
            await this.publish('progress', {
              updateId: target.updateId,
              revision: plan.revision,
              state: 'idle',
              status: 'failed',
              percent: 0,
              reason: failure.reason,
              message: failure.message,
            });
            this.stats.failed++;
            this.opts.onEvent?.({
              type: 'outcome',
              deviceId: this.deviceId,
              updateId: target.updateId,
              outcome: 'failed',
            });
            this.updating = undefined;
            await this.sendReport().catch(() => {});
            return;
          }
        } else if (!downloadStep && step.afterMs > 0) await sleep(step.afterMs, abort.signal);
        if (abort.signal.aborted) return;
        if (step.progress.state === 'installing') for (const d of plan.download.digests) this.objects.add(d);
        await this.publish('progress', step.progress);
      }
    } catch {
      return; // aborted or disconnected mid-update
    }
    if (plan.outcome === 'succeeded') {
      this.revision = plan.revision;
      this.committed.set(plan.revision.digest, plan.revision);
      this.stats.succeeded++;
    } else if (plan.outcome === 'rolled-back') {
      this.failed.add(plan.revision.digest);
      this.stats.rolledBack++;
    } else if (plan.outcome === 'refused') this.stats.refused++;
    else if (plan.outcome === 'silent') this.stats.silent++;
    this.opts.onEvent?.({
      type: 'outcome',
      deviceId: this.deviceId,
      updateId: target.updateId,
      outcome: plan.outcome,
    });
    if (plan.outcome !== 'silent') {
      this.updating = undefined;
      await this.sendReport().catch(() => {});
    }
  }

  private async download(target: Target, digests: readonly Digest[], signal: AbortSignal) {
    const d = this.opts.downloads;
    if (!d || digests.length === 0) return null;
    const want = new Set(digests);
    const c = this.opts.credentials;
    const auth =
      d.auth ?? (c.username && c.password ? { username: c.username, password: c.password } : undefined);
    return downloadObjects(
      target.objectBaseUrl,
      manifestObjects(target.release).filter((o) => want.has(o.digest)),
      { limiter: d.limiter, signal, ...(auth ? { auth } : {}) },
    );
  }

  private async onCommand(cmd: Command): Promise<void> {
    this.opts.onEvent?.({ type: 'command', deviceId: this.deviceId, name: cmd.name });
    await this.publish('ack', { commandId: cmd.commandId, status: 'accepted' });
    if (cmd.name === 'upload-logs') {
      await this.publish('logs', {
        lines: [
          {
            time: new Date().toISOString(),
            source: cmd.container ?? 'agent',
            stream: 'system',
            text: 'simulated log line',
          },
        ],
      });
    }
    if (cmd.name === 'restart-container' && !this.revision) {
      await this.publish('ack', {
        commandId: cmd.commandId,
        status: 'failed',
        message: `no container ${cmd.container}`,
      });
      return;
    }
    await this.publish('ack', { commandId: cmd.commandId, status: 'done' });
    if (cmd.name === 'reboot') {
      // A reboot looks like a dropped connection followed by a fresh announce.
      this.client?.stream.destroy();
    }
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener(
      'abort',
      () => {
        clearTimeout(t);
        reject(new Error('aborted'));
      },
      { once: true },
    );
  });
}

/** A device's counters, all zero (FleetSimulator sums them the same shape). */
export function emptyStats() {
  return {
    published: 0,
    updates: 0,
    succeeded: 0,
    rolledBack: 0,
    refused: 0,
    silent: 0,
    failed: 0,
    /** Sessions lost (a broker that times a starved client out shows here). */
    disconnects: 0,
  };
}

import { EventEmitter } from 'node:events';
import { connect, type IClientOptions, type MqttClient } from 'mqtt';
import {
  decodeMessage,
  deviceTopics,
  encodeMessage,
  type Command,
  type CommandAck,
  type DeviceTopics,
  type Envelope,
  type Logs,
  type MessageBodyInput,
  type Target,
  type Telemetry,
} from '@fleet/protocol';
import { Backoff, type BackoffOptions } from './backoff.js';
import type { LinkLogger } from './logger.js';
import type { OfflineQueue, QueueEntry } from './offline-queue.js';
import type { QueueKind } from './queue-codec.js';

export type CommandResult = { ok: true; message?: string } | { ok: false; message: string };

/** What the rest of the agent does with what the hub sends. Injected by the composition root. */
export interface LinkHandlers {
  /** The retained desired state; called again only when a different envelope arrives. */
  onTarget(target: Target, envelope: Envelope<'target', Target>): Promise<void> | void;
  /**
   * Runs a command. The session acks `accepted` before and `done`/`failed` after. A reboot
   * handler should resolve once the reboot is scheduled, so that `done` can still be sent.
   */
  onCommand(command: Command, signal: AbortSignal): Promise<CommandResult>;
}

export interface MqttCredentials {
  url: string;
  username: string;
  password: string;
  clientId: string;
}

export interface LinkSessionOptions {
  deviceId: string;
  mqtt: MqttCredentials;
  queue: OfflineQueue;
  handlers: LinkHandlers;
  logger: LinkLogger;
  agentVersion: string;
  /** /proc/sys/kernel/random/boot_id: tells the hub a reboot from a reconnect. */
  bootId?: string;
  /** 5 by default; 4 is MQTT 3.1.1, for brokers without MQTT 5 (the hub's embedded aedes). */
  protocolVersion?: 4 | 5;
  /** When an MQTT 5 CONNECT is refused for its version, continue with 3.1.1. Default true. */
  fallbackTo311?: boolean;
  /** PEM CA(s) that alone are trusted for mqtts:// (pinned; the system store is not consulted). */
  ca?: string | Buffer | string[];
  /**
   * TLS client certificate identity (hub certificate mode): the certificate the hub issued and
   * the device's own private key (PEM), which never leaves the device.
   */
  clientCertificate?: { cert: string; key: string };
  keepaliveSeconds?: number;
  connectTimeoutMs?: number;
  reconnect?: BackoffOptions;
  /** QoS 1 publishes awaiting PUBACK at once. Replay stays in order: the window only slides. */
  inflightWindow?: number;
  /** MQTT 5 session expiry: how long the broker keeps our session (subscriptions, queued QoS 1) while we are away. */
  sessionExpirySeconds?: number;
}

export interface LinkSessionEvents {
  connected: [{ sessionPresent: boolean; protocolVersion: 4 | 5 }];
  disconnected: [{ reason: string }];
  /** A queued entry's PUBACK arrived and it left the queue. */
  delivered: [QueueEntry];
}

/** A reason code in a PUBACK that says the broker will never take this message. */
function isPermanentRejection(e: unknown): boolean {
  const code = (e as { code?: unknown }).code;
  return typeof code === 'number' && code >= 0x80;
}

const PROTOCOL_VERSION_REFUSED = new Set([1, 0x84]);

/**
 * The agent's one MQTT session with the hub's broker.
 *
 * - Persistent session (clean=false, fixed client id, MQTT 5 session expiry) so QoS 1 commands
 *   sent while the device was away are delivered when it returns.
 * - Presence: retained `online` after every connect; the Last Will is a retained `offline`
 *   envelope, published by the broker when the connection dies without a DISCONNECT.
 * - Uplink: report, progress and ack always go through the on-disk queue first and leave it only
 *   on PUBACK; telemetry and logs are published directly while online with no backlog, else
 *   queued as droppable.
 * - Reconnect is ours (mqtt.js reconnectPeriod 0): exponential backoff with jitter, and a new
 *   client per attempt. The disk queue is the only outbox: after a reconnect it is replayed from
 *   its head, so the order is the append order; a message in flight when the link died may be
 *   sent twice and the hub drops the copy by envelope id.
 */
export class LinkSession extends EventEmitter<LinkSessionEvents> {
  readonly topics: DeviceTopics;
  private client: MqttClient | null = null;
  /** Bumped per client: callbacks of an abandoned client must not touch the queue's state. */
  private generation = 0;
  private isConnected = false;
  private stopping = false;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private readonly backoff: Backoff;
  private protocolVersion: 4 | 5;
  private readonly inflight = new Set<number>();
  /** PUBACKed, removal from disk pending: must not be sent again meanwhile. */
  private readonly acked = new Set<number>();
  private lastTargetId: string | null = null;
  private targetChain: Promise<void> = Promise.resolve();
  private commandChain: Promise<void> = Promise.resolve();
  private readonly seenCommands: string[] = [];
  private readonly abort = new AbortController();
  /** Direct publishes awaiting PUBACK: failed when the connection they were sent on ends. */
  private readonly ackWaiters = new Set<(e?: Error) => void>();

  constructor(private readonly opts: LinkSessionOptions) {
    super();
    this.topics = deviceTopics(opts.deviceId);
    this.backoff = new Backoff(opts.reconnect ?? { initialMs: 1_000, maxMs: 2 * 60_000 });
    this.protocolVersion = opts.protocolVersion ?? 5;
  }

  get connected(): boolean {
    return this.isConnected;
  }

  get mqttProtocolVersion(): 4 | 5 {
    return this.protocolVersion;
  }

  start(): void {
    if (this.client || this.stopping) return;
    this.connectOnce();
  }

  /**
   * Queues a report, progress or ack durably (fsync) and sends it when connected. Resolves once
   * it is on disk, not when it is delivered. Throws QueueFullError if it cannot be kept, and a
   * ProtocolError for a body that does not validate (a bug in the caller).
   */
  async publish<K extends 'report' | 'progress' | 'ack'>(
    kind: K,
    body: MessageBodyInput<K>,
  ): Promise<string> {
    const enc = encodeMessage(kind, body);
    if (!enc.ok) throw enc.error;
    const b = enc.value.envelope.body as { updateId?: string; status?: string };
    const key =
      kind === 'report' ? 'report' : kind === 'progress' ? `progress:${b.updateId}:${b.status}` : '';
    await this.opts.queue.append(kind, key, enc.value.payload);
    this.pump();
    return enc.value.envelope.id;
  }

  /**
   * A telemetry message (a batch of samples, decision 0037). Online: resolves on its PUBACK and
   * rejects when the connection ends first, so the caller keeps the samples for the next
   * connection. Offline or behind a backlog: resolves once it is in the disk queue (droppable).
   * `id` is the envelope id: a resend of a message whose PUBACK never came passes the first
   * one's, so the hub drops the copy if it had it.
   */
  publishTelemetry(body: MessageBodyInput<'telemetry'>, opts: { id?: string } = {}): Promise<void> {
    return this.publishDroppable('telemetry', body, true, opts.id);
  }

  publishLogs(body: Logs): Promise<void> {
    return this.publishDroppable('logs', body, false);
  }

  private async publishDroppable(
    kind: 'telemetry' | 'logs',
    body: Telemetry | Logs,
    awaitAck: boolean,
    id?: string,
  ): Promise<void> {
    const enc = encodeMessage(kind, body as MessageBodyInput<typeof kind>, id ? { id } : {});
    if (!enc.ok) throw enc.error;
    const client = this.client;
    // Straight out while online and nothing older of the same class waits: no flash write for
    // the common case. A backlog must drain first, or samples would arrive out of order.
    if (client && this.isConnected && this.opts.queue.countDroppable() === 0) {
      if (!awaitAck) {
        client.publish(this.topics[kind], enc.value.payload, { qos: 1 }, (e) => {
          if (e) this.opts.logger.debug(`${kind} not acknowledged: ${e.message}`);
        });
        return;
      }
      await new Promise<void>((resolve, reject) => {
        const settle = (e?: Error): void => {
          this.ackWaiters.delete(settle);
          if (e) reject(e);
          else resolve();
        };
        this.ackWaiters.add(settle);
        client.publish(this.topics[kind], enc.value.payload, { qos: 1 }, (e) => {
          if (e && isPermanentRejection(e)) {
            // Never taken, whatever we do: retrying would only repeat it.
            this.opts.logger.error(`broker rejected ${kind}: ${e.message}; dropped`);
            settle();
          } else settle(e ?? undefined);
        });
      });
      return;
    }
    const r = await this.opts.queue.append(kind, '', enc.value.payload);
    if (r.seq === null) this.opts.logger.debug(`offline queue full: ${kind} sample dropped`);
    this.pump();
  }

  /** Graceful stop: retained `offline` presence, DISCONNECT, no reconnect. */
  async stop(): Promise<void> {
    this.stopping = true;
    this.abort.abort(new Error('link stopping'));
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    const client = this.client;
    this.client = null;
    this.generation++;
    if (!client) return;
    if (this.isConnected) {
      const offline = this.presencePayload('offline');
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 2_000);
        client.publish(
          this.topics.presence,
          offline,
          { qos: 1, retain: true },
          () => (clearTimeout(t), resolve()),
        );
      });
    }
    this.isConnected = false;
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => (client.end(true), resolve()), 2_000);
      client.end(false, {}, () => (clearTimeout(t), resolve()));
    });
    this.failAckWaiters('link stopped before PUBACK');
    await Promise.all([this.targetChain, this.commandChain]);
  }

  private failAckWaiters(reason: string): void {
    for (const settle of [...this.ackWaiters]) settle(new Error(reason));
  }

  private presencePayload(state: 'online' | 'offline'): Buffer {
    const enc = encodeMessage('presence', {
      state,
      agentVersion: this.opts.agentVersion,
      ...(this.opts.bootId ? { bootId: this.opts.bootId } : {}),
    });
    if (!enc.ok) throw enc.error;
    return enc.value.payload;
  }

  private connectOnce(): void {
    const gen = ++this.generation;
    const { mqtt: cred, logger } = this.opts;
    const version = this.protocolVersion;
    const options: IClientOptions = {
      protocolVersion: version,
      clientId: cred.clientId,
      username: cred.username,
      password: cred.password,
      clean: false,
      reconnectPeriod: 0,
      resubscribe: false,
      keepalive: this.opts.keepaliveSeconds ?? 30,
      // mqtt-packet otherwise fills a cache of 65536 two-byte Buffers (one per 16-bit number) on
      // the first packet: 6.7 MiB of live heap for the life of the process, about a tenth of
      // the agent's idle RSS (docs/runtime.md, memory). An agent writes a few packets a minute,
      // so allocating those bytes per packet costs nothing measurable.
      writeCache: false,
      connectTimeout: this.opts.connectTimeoutMs ?? 30_000,
      will: { topic: this.topics.presence, payload: this.presencePayload('offline'), qos: 1, retain: true },
      ...(version === 5
        ? { properties: { sessionExpiryInterval: this.opts.sessionExpirySeconds ?? 7 * 24 * 3600 } }
        : {}),
      ...(this.opts.ca !== undefined ? { ca: this.opts.ca, rejectUnauthorized: true } : {}),
      ...(this.opts.clientCertificate !== undefined
        ? { cert: this.opts.clientCertificate.cert, key: this.opts.clientCertificate.key }
        : {}),
    };
    const client = connect(cred.url, options);
    this.client = client;
    let lastError = '';

    client.on('connect', (connack) => {
      if (gen !== this.generation) return;
      this.isConnected = true;
      this.backoff.reset();
      logger.info('connected to broker', {
        url: cred.url,
        sessionPresent: connack.sessionPresent,
        mqtt: version === 5 ? '5' : '3.1.1',
      });
      client.subscribe(
        { [this.topics.target]: { qos: 1 }, [this.topics.command]: { qos: 1 } },
        (e, granted) => {
          if (gen !== this.generation) return;
          if (e) logger.error(`subscribe failed: ${e.message}`);
          for (const g of granted ?? [])
            if (g.qos >= 0x80) logger.error(`broker refused subscription to ${g.topic} (reason ${g.qos})`);
        },
      );
      client.publish(this.topics.presence, this.presencePayload('online'), { qos: 1, retain: true }, (e) => {
        if (e && gen === this.generation) logger.warn(`online presence not acknowledged: ${e.message}`);
      });
      this.emit('connected', { sessionPresent: connack.sessionPresent, protocolVersion: version });
      this.pump();
    });

    client.on('message', (topic, payload) => {
      if (gen !== this.generation) return;
      if (topic === this.topics.target) this.onTargetMessage(payload);
      else if (topic === this.topics.command) void this.onCommandMessage(payload);
      else logger.warn(`message on unexpected topic ${topic} dropped`);
    });

    client.on('error', (e) => {
      if (gen !== this.generation) return;
      lastError = e.message;
      const code = (e as { code?: unknown }).code;
      if (
        version === 5 &&
        typeof code === 'number' &&
        PROTOCOL_VERSION_REFUSED.has(code) &&
        (this.opts.fallbackTo311 ?? true)
      ) {
        logger.warn('broker refused MQTT 5; continuing with MQTT 3.1.1');
        this.protocolVersion = 4;
      } else {
        logger.warn(`mqtt: ${e.message}`, { url: cred.url });
      }
    });

    client.on('close', () => {
      if (gen !== this.generation) return;
      const was = this.isConnected;
      this.isConnected = false;
      // Whatever was in flight is still in the queue and goes again, in order, after reconnect.
      this.inflight.clear();
      this.failAckWaiters('connection closed before PUBACK');
      this.client = null;
      this.generation++;
      client.removeAllListeners('connect');
      client.on('error', () => {}); // an abandoned client must never throw on a late error
      client.end(true);
      if (was) this.emit('disconnected', { reason: lastError || 'connection closed' });
      if (this.stopping) return;
      const delay = this.protocolVersion !== version ? 0 : this.backoff.next();
      logger.info(
        `broker connection ${was ? 'lost' : 'failed'}${lastError ? ` (${lastError})` : ''}; reconnecting in ${delay} ms`,
      );
      this.reconnectTimer = setTimeout(() => {
        this.reconnectTimer = null;
        if (!this.stopping) this.connectOnce();
      }, delay);
    });
  }

  /** Sends queued entries in order, keeping at most `inflightWindow` awaiting PUBACK. */
  private pump(): void {
    const client = this.client;
    if (!client || !this.isConnected) return;
    const gen = this.generation;
    const window = this.opts.inflightWindow ?? 16;
    for (const e of this.opts.queue.pending()) {
      if (this.inflight.size >= window) return;
      if (this.inflight.has(e.seq) || this.acked.has(e.seq)) continue;
      this.inflight.add(e.seq);
      client.publish(this.topics[e.kind as QueueKind], e.payload, { qos: 1 }, (err) => {
        if (gen !== this.generation) return;
        this.inflight.delete(e.seq);
        if (err && !isPermanentRejection(err)) return; // closed: replayed after reconnect
        if (err) {
          // The broker will never take it (not authorized, bad payload): keeping it would block
          // the queue forever. Loud, not silent.
          this.opts.logger.error(`broker rejected queued ${e.kind} (seq ${e.seq}): ${err.message}; dropped`);
        }
        this.acked.add(e.seq);
        this.opts.queue
          .remove(e.seq)
          .then(
            () => {
              if (!err) this.emit('delivered', e);
            },
            (re: Error) =>
              this.opts.logger.error(`offline queue: removing seq ${e.seq} failed: ${re.message}`),
          )
          .finally(() => {
            this.acked.delete(e.seq);
            this.pump();
          });
      });
    }
  }

  private onTargetMessage(payload: Buffer): void {
    const { logger } = this.opts;
    if (payload.length === 0) {
      logger.info('retained target cleared by the hub');
      return;
    }
    const r = decodeMessage('target', payload);
    if (!r.ok) {
      logger.error(`invalid target dropped: ${r.error.message}`);
      return;
    }
    // The retained target comes again at every (re)subscribe; the handler sees each one once.
    if (r.value.id === this.lastTargetId) return;
    this.lastTargetId = r.value.id;
    const env = r.value;
    this.targetChain = this.targetChain.then(async () => {
      try {
        await this.opts.handlers.onTarget(env.body, env);
      } catch (e) {
        logger.error(`target handler failed: ${(e as Error).message}`, { updateId: env.body.updateId });
      }
    });
  }

  private async onCommandMessage(payload: Buffer): Promise<void> {
    const { logger } = this.opts;
    if (payload.length === 0) return;
    const r = decodeMessage('command', payload);
    if (!r.ok) {
      logger.error(`invalid command dropped: ${r.error.message}`);
      const id = commandIdOf(payload);
      if (id) await this.ack({ commandId: id, status: 'rejected', message: r.error.message.slice(0, 4000) });
      return;
    }
    const cmd = r.value.body;
    // QoS 1 may deliver twice (a redelivery after reconnect): run each command once.
    if (this.seenCommands.includes(cmd.commandId)) {
      logger.debug(`command ${cmd.commandId} delivered again; ignored`);
      return;
    }
    this.seenCommands.push(cmd.commandId);
    if (this.seenCommands.length > 256) this.seenCommands.shift();
    await this.ack({ commandId: cmd.commandId, status: 'accepted' });
    // Commands mutate the device (reboot, restart a container): one at a time, in arrival order.
    const run = this.commandChain.then(async () => {
      let result: CommandResult;
      try {
        result = await this.opts.handlers.onCommand(cmd, this.abort.signal);
      } catch (e) {
        result = { ok: false, message: (e as Error).message };
      }
      await this.ack({
        commandId: cmd.commandId,
        status: result.ok ? 'done' : 'failed',
        ...(result.message ? { message: result.message.slice(0, 4000) } : {}),
      });
    });
    this.commandChain = run;
    await run;
  }

  private async ack(ack: CommandAck): Promise<void> {
    try {
      await this.publish('ack', ack);
    } catch (e) {
      this.opts.logger.error(
        `ack ${ack.status} of command ${ack.commandId} not queued: ${(e as Error).message}`,
      );
    }
  }
}

/** The commandId of a command that failed validation, when one can be read, to reject it by name. */
function commandIdOf(payload: Buffer): string | null {
  try {
    const j = JSON.parse(payload.toString('utf8')) as { body?: { commandId?: unknown } };
    const id = j?.body?.commandId;
    return typeof id === 'string' && id.length > 0 && id.length <= 64 ? id : null;
  } catch {
    return null;
  }
}

import { connect, type IClientOptions, type IClientPublishOptions, type MqttClient } from 'mqtt';

/**
 * The hub's one MQTT session type. Everything in the hub that talks MQTT goes through this
 * class; it is the only place (with the rest of `src/mqtt/`) that imports `mqtt`.
 *
 * Two dialects, chosen by the broker:
 * - Mosquitto: MQTT 5, so denials come back as reason codes and `$share/hub/...` splits the
 *   device traffic across hub replicas.
 * - embedded aedes 1.2.0: it refuses MQTT 5 (CONNACK 1), so MQTT 3.1.1 and plain filters.
 */
export type MqttProtocolVersion = 4 | 5;

export interface HubMqttClientOptions {
  url: string;
  username?: string;
  password?: string;
  clientId: string;
  protocolVersion: MqttProtocolVersion;
  /** Delay between reconnect attempts; mqtt.js retries forever at this period. */
  reconnectPeriodMs?: number;
  connectTimeoutMs?: number;
  keepaliveSeconds?: number;
  /**
   * Keep the session (and the QoS 1 messages the broker queues for it) this long while the hub
   * is away, so a restart loses no presence, progress or ack. Needs a client id that is stable
   * across restarts (one per replica). Absent: a clean session.
   */
  sessionExpirySeconds?: number;
}

export interface MqttLogger {
  log(message: string): void;
  warn(message: string): void;
  error(message: string): void;
}

/**
 * Receives one inbound message. The returned promise delays the acknowledgement and the
 * reading of the next packet on this session, which is how a consumer applies backpressure
 * to the broker (mqtt.js handles packets one at a time through `handleMessage`).
 */
export type MqttMessageListener = (
  topic: string,
  payload: Buffer,
  meta: MqttMessageMeta,
) => void | Promise<void>;

export interface MqttMessageMeta {
  /** Delivered from the broker's retained store (an old value), not published just now. */
  retained: boolean;
}

/** A publish or subscribe the broker refused, with the MQTT reason code it gave. */
export class MqttRefusedError extends Error {
  constructor(
    message: string,
    readonly reasonCode: number,
  ) {
    super(message);
    this.name = 'MqttRefusedError';
  }
}

/** CONNACK codes that no retry will fix (bad credentials, banned, bad client id, protocol). */
const FATAL_CONNACK_CODES = new Set([1, 2, 4, 5, 0x80, 0x81, 0x82, 0x84, 0x85, 0x86, 0x87, 0x8a, 0x8c]);

export class HubMqttClient {
  readonly #client: MqttClient;
  #listenerList: readonly MqttMessageListener[] = [];
  /** Packets were handled in this loop turn, and the socket holds our cork (#startTurn). */
  #inTurn = false;
  /** Resolves when the first listener is added; see #dispatch. */
  readonly #firstListener: Promise<void>;
  #listenerAdded: () => void = () => undefined;
  readonly #logger: MqttLogger;
  #connected = false;
  #closing = false;
  #lastPing = Date.now();

  readonly #options: HubMqttClientOptions;

  private constructor(client: MqttClient, logger: MqttLogger, options: HubMqttClientOptions) {
    this.#client = client;
    this.#logger = logger;
    this.#options = options;
    this.#firstListener = new Promise<void>((resolve) => (this.#listenerAdded = resolve));
    client.on('connect', () => {
      if (!this.#connected) this.#logger.log(`mqtt connected to ${this.#describe()}`);
      this.#connected = true;
    });
    client.on('close', () => {
      if (this.#connected && !this.#closing)
        this.#logger.warn(`mqtt connection to ${this.#describe()} closed; reconnecting`);
      this.#connected = false;
    });
    client.on('error', (error) => this.#logger.warn(`mqtt ${this.#describe()}: ${error.message}`));
    // Replaces mqtt.js's default (which acknowledges at once) so that listeners can hold the
    // session: the PUBACK and the next packet wait until every listener has finished.
    client.handleMessage = (packet, done) => {
      if (!this.#inTurn) this.#startTurn();
      const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload;
      const held = this.#dispatch(this.#listenerList, 0, packet.topic, payload, {
        retained: packet.retain === true,
      });
      if (held === undefined) done();
      else
        held.then(
          () => done(),
          () => done(),
        );
    };
  }

  /**
   * Once per event-loop turn in which packets are handled (a socket read's packets are handled
   * one per tick, so that is once per read rather than once per message):
   * - mqtt.js writes each PUBACK as its own `writev` (mqtt-packet corks the socket for one
   *   packet and uncorks on the next tick): at thousands of messages a second, a syscall per
   *   message and a good part of the hub's MQTT cost (docs/hub.md "Ingest performance").
   *   Holding one more cork until the loop's check phase sends every acknowledgement generated
   *   in the turn with one `writev`. Nothing is acknowledged earlier than before: a PUBACK is
   *   still generated only when the listeners let go of its message, and leaves at most one
   *   loop turn later.
   * - The keep-alive bookkeeping (#keepAliveWhileHolding) re-arms a timer: per turn is as good
   *   as per message for a timeout counted in seconds, and costs a timer per read, not per
   *   message.
   */
  #startTurn(): void {
    this.#inTurn = true;
    this.#keepAliveWhileHolding();
    const stream = this.#client.stream as { cork?: () => void; uncork?: () => void } | undefined;
    const corked = typeof stream?.cork === 'function' && typeof stream.uncork === 'function';
    if (corked) stream.cork!();
    setImmediate(() => {
      this.#inTurn = false;
      if (corked) stream.uncork!();
    });
  }

  /**
   * Connects and resolves once the broker accepted the session. Refused credentials reject at
   * once (a configuration error); an unreachable broker is retried until `signal` aborts.
   */
  static async connect(
    options: HubMqttClientOptions,
    logger: MqttLogger,
    signal?: AbortSignal,
  ): Promise<HubMqttClient> {
    signal?.throwIfAborted();
    const mqttOptions: IClientOptions = {
      clientId: options.clientId,
      protocolVersion: options.protocolVersion,
      reconnectPeriod: options.reconnectPeriodMs ?? 1000,
      connectTimeout: options.connectTimeoutMs ?? 10_000,
      keepalive: options.keepaliveSeconds ?? 30,
      clean: options.sessionExpirySeconds === undefined,
      resubscribe: true,
      // The hub's own publishes (targets, commands) wait in mqtt.js's store while offline.
      queueQoSZero: false,
    };
    // mqtt.js calls its `debug` logger about a dozen times per packet, and a disabled one still
    // costs a namespace check per call: ~2.5 µs a message, 3 % of the hub's CPU with 1-sample
    // telemetry (docs/hub.md "Ingest performance"). It stays when asked for (DEBUG=mqttjs*).
    if (!(process.env.DEBUG ?? '').includes('mqttjs')) mqttOptions.log = () => undefined;
    if (options.sessionExpirySeconds !== undefined && options.protocolVersion === 5) {
      mqttOptions.properties = { sessionExpiryInterval: options.sessionExpirySeconds };
    }
    if (options.username !== undefined) mqttOptions.username = options.username;
    if (options.password !== undefined) mqttOptions.password = options.password;
    const client = connect(options.url, mqttOptions);
    const hub = new HubMqttClient(client, logger, options);
    await new Promise<void>((resolve, reject) => {
      const cleanup = () => {
        client.off('connect', onConnect);
        client.off('error', onError);
        signal?.removeEventListener('abort', onAbort);
      };
      const onConnect = () => {
        cleanup();
        resolve();
      };
      const onError = (error: Error & { code?: unknown }) => {
        if (typeof error.code === 'number' && FATAL_CONNACK_CODES.has(error.code)) {
          cleanup();
          client.end(true);
          reject(
            new MqttRefusedError(
              `broker ${options.url} refused the hub's connection: ${error.message}`,
              error.code,
            ),
          );
        }
      };
      const onAbort = () => {
        cleanup();
        client.end(true);
        reject(signal?.reason ?? new Error('aborted'));
      };
      client.on('connect', onConnect);
      client.on('error', onError);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
    return hub;
  }

  /**
   * Another session on the same broker with the same identity: a clean session of its own (no
   * subscriptions, nothing queued while away) under `<clientId>-<suffix>`. The hub publishes
   * targets and commands on one, so their PUBACKs never queue behind the device messages ingest
   * holds on the main session (measured: hub/bench/rollout.bench.ts, docs/rollouts.md).
   */
  async openSibling(suffix: string, signal?: AbortSignal): Promise<HubMqttClient> {
    const { sessionExpirySeconds: _persistent, ...options } = this.#options;
    return HubMqttClient.connect(
      { ...options, clientId: `${options.clientId}-${suffix}` },
      this.#logger,
      signal,
    );
  }

  get connected(): boolean {
    return this.#connected;
  }

  get protocolVersion(): MqttProtocolVersion {
    return this.#client.options.protocolVersion === 5 ? 5 : 4;
  }

  addListener(listener: MqttMessageListener): () => void {
    // A fresh array on every change: a message being dispatched keeps the list it started with.
    if (!this.#listenerList.includes(listener)) this.#listenerList = [...this.#listenerList, listener];
    this.#listenerAdded();
    return () => {
      this.#listenerList = this.#listenerList.filter((l) => l !== listener);
    };
  }

  /**
   * Subscribes with QoS 1; mqtt.js renews the subscriptions after every reconnect. A filter the
   * broker refuses (SUBACK >= 0x80) throws, naming the filter and the reason code.
   */
  async subscribe(filters: readonly string[]): Promise<void> {
    if (filters.length === 0) return;
    let granted: readonly number[];
    try {
      granted = (await this.#client.subscribeAsync([...filters], { qos: 1 })).map((g) => g.qos);
    } catch (error) {
      // mqtt.js rejects the whole SUBACK when one code is >= 0x80; the packet says which.
      const codes = (error as { packet?: { granted?: unknown } }).packet?.granted;
      if (!Array.isArray(codes)) throw error;
      granted = codes as number[];
    }
    const refused = filters
      .map((f, i) => ({ filter: f, code: granted[i] ?? 0x80 }))
      .filter((g) => g.code >= 0x80);
    if (refused.length > 0) {
      throw new MqttRefusedError(
        `broker refused subscription(s) ${refused.map((g) => `${g.filter} (0x${g.code.toString(16)})`).join(', ')}`,
        refused[0]!.code,
      );
    }
  }

  async unsubscribe(filters: readonly string[]): Promise<void> {
    if (filters.length > 0) await this.#client.unsubscribeAsync([...filters]);
  }

  /** QoS 1 publish; resolves on PUBACK. A refused publish (MQTT 5 reason code) throws. */
  async publish(
    topic: string,
    payload: string | Uint8Array,
    options: { retain?: boolean } = {},
  ): Promise<void> {
    const publishOptions: IClientPublishOptions = { qos: 1, retain: options.retain ?? false };
    try {
      await this.#client.publishAsync(topic, Buffer.from(payload), publishOptions);
    } catch (error) {
      const code = (error as { code?: unknown }).code;
      if (typeof code === 'number')
        throw new MqttRefusedError(`broker refused publish to ${topic}: ${(error as Error).message}`, code);
      throw error;
    }
  }

  /** Clears a retained message (an empty retained payload is MQTT's deletion). */
  async clearRetained(topic: string): Promise<void> {
    await this.publish(topic, Buffer.alloc(0), { retain: true });
  }

  /** Ends the session; unacknowledged QoS 1 publishes are flushed first unless `force`. */
  async close(force = false): Promise<void> {
    this.#closing = true;
    await this.#client.endAsync(force);
  }

  /**
   * Hands a message to `listeners` from index `from` on, one after the other. Returns nothing
   * when every listener finished synchronously, so the common path allocates no promise of its
   * own (one per message showed in the hub's profile); otherwise a promise that settles, never
   * rejecting, when the last one has.
   */
  #dispatch(
    listeners: readonly MqttMessageListener[],
    from: number,
    topic: string,
    payload: Buffer,
    meta: MqttMessageMeta,
  ): Promise<void> | undefined {
    // A persistent session's queued messages (kept by the broker while the hub was down) arrive
    // right after CONNACK, before ingest has attached its listener. Acknowledging them with
    // nobody listening would lose them, so the first packet (and, through handleMessage, every
    // packet after it) waits for the first listener.
    if (this.#listenerList.length === 0)
      return this.#firstListener.then(() => this.#dispatch(this.#listenerList, 0, topic, payload, meta));
    for (let i = from; i < listeners.length; i++) {
      let result: void | Promise<void>;
      try {
        result = listeners[i]!(topic, payload, meta);
      } catch (error) {
        this.#listenerFailed(topic, error);
        continue;
      }
      if (result !== undefined && typeof (result as Promise<void>).then === 'function') {
        const next = i + 1;
        return (result as Promise<void>).then(
          () => this.#dispatch(listeners, next, topic, payload, meta),
          (error: unknown) => {
            this.#listenerFailed(topic, error);
            return this.#dispatch(listeners, next, topic, payload, meta);
          },
        );
      }
    }
    return undefined;
  }

  /** A listener bug must never take the session (and with it every device's ingest) down. */
  #listenerFailed(topic: string, error: unknown): void {
    this.#logger.error(`mqtt listener failed on ${topic}: ${(error as Error).message}`);
  }

  /**
   * mqtt.js counts only acks and PINGRESP as signs of a live broker, and reads packets one at a
   * time: while listeners hold a backlog of device messages, the PINGRESP waits behind it and
   * mqtt.js drops a healthy session ("Keepalive timeout"; seen with 2000 devices connecting at
   * once, which also loses a clean session's queued messages). A publish being handed over is
   * proof the broker is there, so it postpones the client-side timeout; a PINGREQ still goes out
   * every half keepalive while that lasts, so the broker hears from the hub even when every
   * delivered message is QoS 0 (no PUBACK).
   */
  #keepAliveWhileHolding(): void {
    const client = this.#client;
    if (!client.options.keepalive) return;
    client.reschedulePing(true);
    const now = Date.now();
    if (now - this.#lastPing >= (client.options.keepalive * 1000) / 2) {
      this.#lastPing = now;
      client.sendPing();
    }
  }

  #describe(): string {
    const o = this.#client.options;
    return `${o.protocol ?? 'mqtt'}://${o.hostname ?? o.host ?? '?'}:${o.port ?? '?'} as ${o.clientId ?? '?'}`;
  }
}

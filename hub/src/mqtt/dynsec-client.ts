import { randomUUID } from 'node:crypto';

/**
 * Client for Mosquitto's dynamic security plugin, spoken over `$CONTROL/dynamic-security/v1`.
 *
 * The plugin answers every request on one shared response topic, so with several hub replicas
 * (all using the admin identity) each one sees every replica's answers. Each command therefore
 * carries a `correlationData` the plugin echoes back, and a request is matched to its response
 * by that value, never by arrival order.
 */

export const DYNSEC_REQUEST_TOPIC = '$CONTROL/dynamic-security/v1';
export const DYNSEC_RESPONSE_TOPIC = '$CONTROL/dynamic-security/v1/response';

/** One dynsec command; `command` names it, the rest are its arguments (see mosquitto_ctrl-dynsec(1)). */
export interface DynsecCommand {
  command: string;
  [argument: string]: unknown;
}

/** One ACL entry of a dynsec role. */
export interface DynsecAcl {
  acltype:
    | 'publishClientSend'
    | 'publishClientReceive'
    | 'subscribeLiteral'
    | 'subscribePattern'
    | 'unsubscribeLiteral'
    | 'unsubscribePattern';
  topic: string;
  priority: number;
  allow: boolean;
}

export interface DynsecResponse {
  command: string;
  error?: string;
  data?: unknown;
  correlationData?: string;
}

/** Transport the client needs: publish a request and be told about each response payload. */
export interface DynsecTransport {
  publish(topic: string, payload: string): Promise<void>;
  /** Registers the handler for response payloads; returns a function that removes it. */
  onResponse(handler: (payload: Buffer) => void): () => void;
}

/** Why a command failed, reduced from the plugin's free-text error to what callers branch on. */
export type DynsecErrorKind = 'already-exists' | 'not-found' | 'invalid' | 'timeout' | 'rejected';

export class DynsecError extends Error {
  constructor(
    readonly kind: DynsecErrorKind,
    readonly command: string,
    readonly brokerMessage: string,
  ) {
    super(`dynamic-security ${command} failed (${kind}): ${brokerMessage}`);
    this.name = 'DynsecError';
  }
}

/**
 * Maps the plugin's error strings (Mosquitto 2.0.11 `plugins/dynamic-security/*.c`) to kinds.
 * Unknown strings stay `rejected` with the broker's text kept, so nothing is lost.
 */
export function classifyDynsecError(message: string): DynsecErrorKind {
  const m = message.toLowerCase();
  if (m.includes('already exists')) return 'already-exists';
  if (m.includes('not found')) return 'not-found';
  if (m.includes('invalid') || m.includes('missing') || m.includes('unknown command')) return 'invalid';
  return 'rejected';
}

interface Pending {
  command: string;
  resolve(response: DynsecResponse): void;
  reject(error: Error): void;
  timer: NodeJS.Timeout;
}

export interface DynsecClientOptions {
  /** How long to wait for the plugin's answer before failing the command. */
  timeoutMs?: number;
}

export class DynsecClient {
  readonly #transport: DynsecTransport;
  readonly #timeoutMs: number;
  readonly #pending = new Map<string, Pending>();
  readonly #off: () => void;

  constructor(transport: DynsecTransport, options: DynsecClientOptions = {}) {
    this.#transport = transport;
    this.#timeoutMs = options.timeoutMs ?? 10_000;
    this.#off = transport.onResponse((payload) => this.#onResponse(payload));
  }

  /**
   * Sends the commands in one message and resolves with one response per command, in order.
   * Commands that the broker answers with an error are returned with `error` set; use
   * `run` to have them thrown instead.
   */
  async execute(commands: readonly DynsecCommand[]): Promise<DynsecResponse[]> {
    if (commands.length === 0) return [];
    const tagged = commands.map((c) => ({ ...c, correlationData: randomUUID() }));
    const answers = tagged.map(
      (c) =>
        new Promise<DynsecResponse>((resolve, reject) => {
          const timer = setTimeout(() => {
            this.#pending.delete(c.correlationData);
            reject(new DynsecError('timeout', c.command, `no response within ${this.#timeoutMs} ms`));
          }, this.#timeoutMs);
          this.#pending.set(c.correlationData, { command: c.command, resolve, reject, timer });
        }),
    );
    try {
      await this.#transport.publish(DYNSEC_REQUEST_TOPIC, JSON.stringify({ commands: tagged }));
    } catch (error) {
      for (const c of tagged) this.#settle(c.correlationData)?.reject(error as Error);
    }
    return Promise.all(answers);
  }

  /** Like `execute`, but the first command the broker refused is thrown as a DynsecError. */
  async run(commands: readonly DynsecCommand[]): Promise<DynsecResponse[]> {
    const responses = await this.execute(commands);
    for (const r of responses) {
      if (r.error !== undefined) throw new DynsecError(classifyDynsecError(r.error), r.command, r.error);
    }
    return responses;
  }

  /** Fails every command still waiting and stops listening. */
  close(): void {
    this.#off();
    for (const id of [...this.#pending.keys()]) {
      this.#settle(id)?.reject(new DynsecError('timeout', 'close', 'dynamic-security client closed'));
    }
  }

  #settle(id: string): Pending | undefined {
    const p = this.#pending.get(id);
    if (p === undefined) return undefined;
    clearTimeout(p.timer);
    this.#pending.delete(id);
    return p;
  }

  #onResponse(payload: Buffer): void {
    let parsed: unknown;
    try {
      parsed = JSON.parse(payload.toString('utf8'));
    } catch {
      return; // not ours to judge: another tool may publish here; our requests time out instead
    }
    const responses = (parsed as { responses?: unknown }).responses;
    if (!Array.isArray(responses)) return;
    for (const r of responses as DynsecResponse[]) {
      if (typeof r?.correlationData !== 'string') continue;
      this.#settle(r.correlationData)?.resolve(r);
    }
  }
}

/** The subset of HubMqttClient the dynsec client rides on. */
export interface DynsecSession {
  publish(topic: string, payload: string): Promise<void>;
  subscribe(filters: readonly string[]): Promise<void>;
  addListener(listener: (topic: string, payload: Buffer) => void): () => void;
}

/**
 * Opens a dynsec client on an MQTT session authenticated as a dynsec admin (MQTT 5 to
 * Mosquitto), subscribing to the response topic before the first request can be sent.
 */
export async function openDynsecClient(
  session: DynsecSession,
  options: DynsecClientOptions = {},
): Promise<DynsecClient> {
  const transport: DynsecTransport = {
    publish: (topic, payload) => session.publish(topic, payload),
    onResponse: (handler) =>
      session.addListener((topic, payload) => {
        if (topic === DYNSEC_RESPONSE_TOPIC) handler(payload);
      }),
  };
  const client = new DynsecClient(transport, options);
  await session.subscribe([DYNSEC_RESPONSE_TOPIC]);
  return client;
}

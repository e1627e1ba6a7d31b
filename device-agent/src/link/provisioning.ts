import { readFile } from 'node:fs/promises';
import {
  isDeviceId,
  parseProvisionRequest,
  parseProvisionResponse,
  type AgentConfig,
  type ProvisionRequest,
} from '@fleet/protocol';
import { Backoff, isAbortError, sleep, type BackoffOptions } from './backoff.js';
import { HttpError, httpOpen, readBody } from './http-client.js';
import type { DeviceCredentials, IdentityStore } from './identity.js';
import type { LinkLogger } from './logger.js';

export const PROVISION_PATH = '/api/v1/provision';

export interface ProvisionerOptions {
  config: Pick<AgentConfig, 'hubUrl' | 'claimToken' | 'board' | 'name' | 'tls'>;
  identity: IdentityStore;
  agentVersion: string;
  hardwareId: () => Promise<string>;
  logger: LinkLogger;
  /** Retry pace while the hub is unreachable or failing (5xx, network). */
  backoff?: BackoffOptions;
  /** Retry pace after the hub refused us (4xx): a bad or expired token needs a human; do not hammer. */
  refusedBackoff?: BackoffOptions;
  requestTimeoutMs?: number;
}

/** Provisioning cannot succeed without a change on the device (no claim token in the config). */
export class ProvisioningImpossibleError extends Error {
  override readonly name = 'ProvisioningImpossibleError';
}

type Attempt =
  | { kind: 'ok'; credentials: DeviceCredentials }
  | { kind: 'refused'; message: string }
  | { kind: 'failed'; message: string };

/**
 * First-boot provisioning: generate the key pair on the device, claim the device at the hub
 * with the config's claim token, store the credentials. Runs until the hub answers with valid
 * credentials or the signal aborts; a provisioned device returns its stored credentials at once.
 */
export class Provisioner {
  private readonly backoff: Backoff;
  private readonly refusedBackoff: Backoff;

  constructor(private readonly opts: ProvisionerOptions) {
    this.backoff = new Backoff(opts.backoff ?? { initialMs: 1_000, maxMs: 5 * 60_000 });
    this.refusedBackoff = new Backoff(opts.refusedBackoff ?? { initialMs: 60_000, maxMs: 60 * 60_000 });
  }

  async ensureProvisioned(signal?: AbortSignal): Promise<DeviceCredentials> {
    const { identity, logger, config } = this.opts;
    const stored = await identity.loadCredentials((m) => logger.error(m));
    if (stored) {
      logger.debug('already provisioned', { deviceId: stored.deviceId });
      return stored;
    }
    if (!config.claimToken) {
      throw new ProvisioningImpossibleError(
        `device is not provisioned (no ${identity.credentialsPath}) and the agent config has no claimToken`,
      );
    }
    const { publicKeyBase64 } = await identity.loadOrCreateKey();
    const request: ProvisionRequest = {
      claimToken: config.claimToken,
      hardwareId: await this.opts.hardwareId(),
      publicKey: publicKeyBase64,
      board: config.board,
      agentVersion: this.opts.agentVersion,
      ...(config.name ? { name: config.name } : {}),
    };
    const valid = parseProvisionRequest(request);
    // Our own request failing our own schema is a bug or a bad config value: retrying cannot help.
    if (!valid.ok)
      throw new ProvisioningImpossibleError(`provisioning request would be invalid: ${valid.error.message}`);
    const ca = config.tls?.caFile ? await readFile(config.tls.caFile) : undefined;

    for (;;) {
      signal?.throwIfAborted();
      const r = await this.attempt(valid.value, ca, signal);
      if (r.kind === 'ok') {
        await identity.saveCredentials(r.credentials);
        logger.info('provisioned', { deviceId: r.credentials.deviceId, fleetId: r.credentials.fleetId });
        this.backoff.reset();
        this.refusedBackoff.reset();
        return r.credentials;
      }
      const delay = r.kind === 'refused' ? this.refusedBackoff.next() : this.backoff.next();
      if (r.kind === 'refused') this.backoff.reset();
      logger[r.kind === 'refused' ? 'error' : 'warn'](
        `provisioning ${r.kind}: ${r.message}; retrying in ${Math.round(delay / 1000)} s`,
        {
          hubUrl: config.hubUrl,
        },
      );
      await sleep(delay, signal);
    }
  }

  private async attempt(
    request: ProvisionRequest,
    ca: Buffer | undefined,
    signal?: AbortSignal,
  ): Promise<Attempt> {
    // Appended, not resolved: a hub behind a path prefix (https://host/fleet) keeps its prefix.
    const url = `${this.opts.config.hubUrl.replace(/\/+$/, '')}${PROVISION_PATH}`;
    const timeout = AbortSignal.timeout(this.opts.requestTimeoutMs ?? 30_000);
    const both = signal ? AbortSignal.any([signal, timeout]) : timeout;
    let status: number;
    let body: Buffer;
    try {
      const res = await httpOpen(url, {
        method: 'POST',
        headers: { 'content-type': 'application/json', accept: 'application/json' },
        body: JSON.stringify(request),
        ...(ca ? { ca } : {}),
        signal: both,
      });
      status = res.statusCode ?? 0;
      body = await readBody(res, 64 * 1024);
    } catch (e) {
      if (signal?.aborted) throw e;
      if (isAbortError(e))
        return {
          kind: 'failed',
          message: `no answer from ${url} within ${this.opts.requestTimeoutMs ?? 30_000} ms`,
        };
      return {
        kind: 'failed',
        message: e instanceof HttpError ? e.message : `POST ${url}: ${(e as Error).message}`,
      };
    }
    if (status >= 400 && status < 500) {
      return {
        kind: 'refused',
        message: `hub answered ${status} ${describeBody(body)} (bad or expired claim token?)`,
      };
    }
    if (status !== 200 && status !== 201)
      return { kind: 'failed', message: `hub answered ${status} ${describeBody(body)}` };
    let json: unknown;
    try {
      json = JSON.parse(body.toString('utf8'));
    } catch {
      return {
        kind: 'failed',
        message: `hub answered ${status} with a body that is not JSON: ${describeBody(body)}`,
      };
    }
    const parsed = parseProvisionResponse(json);
    if (!parsed.ok)
      return {
        kind: 'failed',
        message: `hub answered with an invalid ProvisionResponse: ${parsed.error.message}`,
      };
    // Topics and broker user names are built from the id: one we cannot use is as bad as none.
    if (!isDeviceId(parsed.value.deviceId)) {
      return {
        kind: 'failed',
        message: `hub answered with deviceId ${JSON.stringify(parsed.value.deviceId)}, which is not a valid device id`,
      };
    }
    return { kind: 'ok', credentials: parsed.value };
  }
}

/** The hub's error text: `message` of a JSON error body, or the start of the raw body. */
function describeBody(body: Buffer): string {
  const text = body.toString('utf8');
  try {
    const j = JSON.parse(text) as { message?: unknown; error?: unknown };
    const m = Array.isArray(j.message) ? j.message.join('; ') : (j.message ?? j.error);
    if (typeof m === 'string' && m.length > 0) return `"${m.slice(0, 500)}"`;
  } catch {
    // not JSON: fall through
  }
  return text.length === 0 ? '(empty body)' : `"${text.slice(0, 500)}"`;
}

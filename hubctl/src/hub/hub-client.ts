import { createReadStream } from 'node:fs';
import { Readable, Transform } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import {
  ApiErrorBody,
  BulkTagResult,
  ClaimToken,
  Device,
  DeviceCommand,
  DeviceDetail,
  Fleet,
  NewClaimToken,
  Page,
  parseApiResponse,
  parseHubEvent,
  Release,
  ReleaseSummary,
  SigningKeyRecord,
  StoredLogLine,
  UserPrincipal,
  type BulkTagRequest,
  type CreateClaimTokenRequest,
  type CreateCommandRequest,
  type CreateFleetRequest,
  type CreateKeyRequest,
  type HubEvent,
  type ProtocolError,
} from '@fleet/protocol';
import type { z } from 'zod';
import { HubRequestError, HubUnreachableError, HubctlError, type FieldIssue } from '../cli/errors.js';
import { parseSseStream } from './sse.js';

export interface HubClientOptions {
  baseUrl: string;
  token: string;
  /** Injected for tests; global fetch otherwise. */
  fetch?: typeof fetch;
}

type Query = Record<string, string | number | boolean | readonly string[] | undefined>;

/** What to tell the operator for each refusal, by status. */
export function hintFor(status: number, method: string, path: string): string | undefined {
  if (status === 401)
    return 'the hub does not accept this API token: run `hubctl login --url <hub url> --token <token>` with a valid, unrevoked token';
  if (status === 403)
    return "this token's role or scopes do not allow it: ask an admin for a token with the right role";
  if (status === 404)
    return 'nothing by that name or id on this hub: list what exists with the matching `ls` command';
  if (status === 409)
    return 'it conflicts with what the hub already has: pick a new name, version or sequence';
  if (status === 413)
    return 'the hub refused the size: ask its operator to raise HUB_BODY_LIMIT_BYTES / HUB_MAX_OBJECT_BYTES';
  if (status >= 500) return `the hub failed (${method} ${path}): check its log`;
  return undefined;
}

/** Turns a hub error response into an error naming every bad field. */
export function hubError(status: number, method: string, path: string, body: unknown): HubRequestError {
  // Lenient on purpose: a proxy's error page or an older hub's body still yields its message.
  const parsed = ApiErrorBody.partial().safeParse(body);
  let message = `HTTP ${status}`;
  let issues: FieldIssue[] = [];
  if (parsed.success) {
    const m = parsed.data.message;
    if (typeof m === 'string' && m !== '') message = m;
    else if (Array.isArray(m) && m.length > 0) message = m.join('; ');
    issues = parsed.data.issues ?? [];
  } else if (typeof body === 'string' && body.trim() !== '') {
    message = body.trim().slice(0, 500);
  }
  return new HubRequestError(status, method, path, message, issues, hintFor(status, method, path));
}

/** The error for a 2xx answer that does not have the shape @fleet/protocol gives the route. */
export function unexpectedAnswer(what: string, error: ProtocolError): HubctlError {
  const issues = error.issues
    .slice(0, 3)
    .map((i) => `${i.path}: ${i.message}`)
    .join('; ');
  return new HubctlError(
    `${what}: unexpected answer from the hub (${issues})`,
    'hubctl and the hub may be of different versions',
  );
}

/**
 * Typed client for the hub's /api/v1 (Bearer API token). Every answer is validated with the
 * hub's response schemas from @fleet/protocol (api/), so a hub that answers something else fails here, loudly, instead of
 * printing undefined further down.
 */
export class HubClient {
  readonly baseUrl: string;
  readonly #token: string;
  readonly #fetch: typeof fetch;

  constructor(options: HubClientOptions) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, '');
    this.#token = options.token;
    this.#fetch = options.fetch ?? fetch;
  }

  url(path: string, query: Query = {}): string {
    const u = new URL(`${this.baseUrl}/api/v1${path}`);
    for (const [k, v] of Object.entries(query)) {
      if (v === undefined) continue;
      if (Array.isArray(v)) for (const item of v) u.searchParams.append(k, String(item));
      else u.searchParams.set(k, String(v));
    }
    return u.toString();
  }

  async #send(
    method: string,
    path: string,
    init: { query?: Query; body?: unknown; raw?: RequestInit; signal?: AbortSignal } = {},
  ): Promise<Response> {
    const headers: Record<string, string> = {
      authorization: `Bearer ${this.#token}`,
      accept: 'application/json',
    };
    let body: RequestInit['body'];
    if (init.body !== undefined) {
      headers['content-type'] = 'application/json';
      body = JSON.stringify(init.body);
    }
    let res: Response;
    try {
      res = await this.#fetch(this.url(path, init.query), {
        method,
        headers: { ...headers, ...(init.raw?.headers as Record<string, string> | undefined) },
        ...(body !== undefined ? { body } : {}),
        ...(init.raw?.body !== undefined ? { body: init.raw.body, duplex: 'half' } : {}),
        ...(init.signal ? { signal: init.signal } : {}),
      } as RequestInit);
    } catch (e) {
      if ((e as Error).name === 'AbortError') throw e;
      const cause = (e as { cause?: { code?: string; message?: string } }).cause;
      throw new HubUnreachableError(
        `cannot reach the hub at ${this.baseUrl}: ${cause?.code ?? cause?.message ?? (e as Error).message}`,
        'check the URL (`hubctl login --url ...`) and that the hub is running',
        { cause: e },
      );
    }
    if (res.status >= 400) {
      const text = await res.text().catch(() => '');
      let parsed: unknown = text;
      try {
        parsed = JSON.parse(text);
      } catch {
        // not JSON: the text itself is the message
      }
      throw hubError(res.status, method, `/api/v1${path}`, parsed);
    }
    return res;
  }

  async #json<S extends z.ZodType>(
    schema: S,
    method: string,
    path: string,
    init: { query?: Query; body?: unknown; signal?: AbortSignal } = {},
  ): Promise<z.output<S>> {
    const res = await this.#send(method, path, init);
    const data: unknown = await res.json().catch(() => {
      throw new HubctlError(`${method} /api/v1${path}: the hub's answer is not JSON`);
    });
    const what = `${method} /api/v1${path}`;
    const r = parseApiResponse(what, schema, data);
    if (!r.ok) throw unexpectedAnswer(what, r.error);
    return r.value;
  }

  whoami(): Promise<UserPrincipal> {
    return this.#json(UserPrincipal, 'GET', '/auth/me');
  }

  listFleets(): Promise<Fleet[]> {
    return this.#json(Fleet.array(), 'GET', '/fleets');
  }
  getFleet(idOrName: string): Promise<Fleet> {
    return this.#json(Fleet, 'GET', `/fleets/${encodeURIComponent(idOrName)}`);
  }
  createFleet(body: CreateFleetRequest): Promise<Fleet> {
    return this.#json(Fleet, 'POST', '/fleets', { body });
  }

  createClaimToken(fleet: string, body: CreateClaimTokenRequest): Promise<NewClaimToken> {
    return this.#json(NewClaimToken, 'POST', `/fleets/${encodeURIComponent(fleet)}/claim-tokens`, { body });
  }
  listClaimTokens(fleet: string): Promise<ClaimToken[]> {
    return this.#json(ClaimToken.array(), 'GET', `/fleets/${encodeURIComponent(fleet)}/claim-tokens`);
  }
  revokeClaimToken(id: string): Promise<ClaimToken> {
    return this.#json(ClaimToken, 'DELETE', `/claim-tokens/${encodeURIComponent(id)}`);
  }

  listDevices(query: {
    fleetId?: string;
    tag?: string[];
    status?: string;
    release?: string;
    q?: string;
    limit?: number;
    cursor?: string;
  }) {
    return this.#json(Page(Device), 'GET', '/devices', { query });
  }
  getDevice(id: string): Promise<DeviceDetail> {
    return this.#json(DeviceDetail, 'GET', `/devices/${encodeURIComponent(id)}`);
  }
  tagDevices(body: BulkTagRequest): Promise<BulkTagResult> {
    return this.#json(BulkTagResult, 'POST', '/devices/tags', { body });
  }
  sendCommand(id: string, body: CreateCommandRequest): Promise<DeviceCommand> {
    return this.#json(DeviceCommand, 'POST', `/devices/${encodeURIComponent(id)}/commands`, { body });
  }
  deviceLogs(id: string, query: { source?: string; limit?: number; q?: string; from?: string }) {
    return this.#json(Page(StoredLogLine), 'GET', `/devices/${encodeURIComponent(id)}/logs`, { query });
  }

  /** Server-sent events, parsed and validated, until the signal aborts or the hub closes. */
  async *events(
    query: { deviceId?: string; fleetId?: string; type?: string[] },
    signal?: AbortSignal,
  ): AsyncGenerator<HubEvent> {
    const res = await this.#send('GET', '/events', {
      query,
      raw: { headers: { accept: 'text/event-stream' } },
      ...(signal ? { signal } : {}),
    });
    if (!res.body) return;
    for await (const msg of parseSseStream(Readable.fromWeb(res.body as WebReadableStream<Uint8Array>))) {
      // A frame this hubctl does not understand (a newer hub's event type) is skipped.
      const r = parseHubEvent(msg.data);
      if (r.ok) yield r.value;
    }
  }

  createKey(body: CreateKeyRequest): Promise<SigningKeyRecord> {
    return this.#json(SigningKeyRecord, 'POST', '/keys', { body });
  }
  listKeys(includeRevoked = false): Promise<SigningKeyRecord[]> {
    return this.#json(SigningKeyRecord.array(), 'GET', '/keys', { query: { includeRevoked } });
  }

  listReleases(query: { includeYanked?: boolean; board?: string; limit?: number; cursor?: string }) {
    return this.#json(Page(ReleaseSummary), 'GET', '/releases', { query });
  }
  getRelease(idOrVersion: string): Promise<Release> {
    return this.#json(Release, 'GET', `/releases/${encodeURIComponent(idOrVersion)}`);
  }
  /** Returns whether the hub created it (201) or already had the identical release (200). */
  async createRelease(signedManifest: unknown): Promise<{ release: Release; created: boolean }> {
    const res = await this.#send('POST', '/releases', { body: signedManifest });
    const r = parseApiResponse('POST /api/v1/releases', Release, await res.json().catch(() => null));
    if (!r.ok) throw unexpectedAnswer('POST /api/v1/releases', r.error);
    return { release: r.value, created: res.status === 201 };
  }
  yankRelease(idOrVersion: string, reason: string): Promise<Release> {
    return this.#json(Release, 'POST', `/releases/${encodeURIComponent(idOrVersion)}/yank`, {
      body: { reason },
    });
  }

  /** HEAD on the object store: does the hub already hold this digest? */
  async hasObject(hex: string, signal?: AbortSignal): Promise<boolean> {
    try {
      await this.#send('HEAD', `/objects/sha256/${hex}`, signal ? { signal } : {});
      return true;
    } catch (e) {
      if (e instanceof HubRequestError && e.status === 404) return false;
      throw e;
    }
  }

  /** Streams a file to the object store; the hub verifies the digest (422 on mismatch). */
  async putObject(
    hex: string,
    file: string,
    size: number,
    onBytes: (n: number) => void,
    signal?: AbortSignal,
  ): Promise<'created' | 'existed'> {
    const counting = new Transform({
      transform(chunk: Buffer, _enc, cb) {
        onBytes(chunk.length);
        cb(null, chunk);
      },
    });
    const body = Readable.toWeb(createReadStream(file).pipe(counting));
    const res = await this.#send('PUT', `/objects/sha256/${hex}`, {
      raw: {
        body: body as unknown as RequestInit['body'],
        headers: { 'content-type': 'application/octet-stream', 'content-length': String(size) },
      },
      ...(signal ? { signal } : {}),
    });
    await res.body?.cancel();
    return res.status === 201 ? 'created' : 'existed';
  }
}

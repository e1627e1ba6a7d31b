import type { Readable } from 'node:stream';
import { OciError } from './errors.js';
import { HttpBodyTooLarge, httpGet, type HttpResponse } from './http-get.js';
import { INDEX_TYPES, MANIFEST_TYPES } from './image-types.js';
import type { PlatformSpec } from './platform.js';
import { resolveFromDescriptor, type ImageSource, type ResolvedImage } from './source.js';
import { checkDigestSyntax, sha256Digest } from './verify.js';

/**
 * Pulls from an OCI distribution (registry v2) endpoint: anonymous, Basic, or the Bearer
 * token flow (WWW-Authenticate realm/service/scope, with or without credentials).
 */

export interface RegistryReference {
  host: string;
  repository: string;
  tag?: string;
  digest?: string;
}

/**
 * `host[:port]/repo/name[:tag][@sha256:...]`. The host is mandatory: there is deliberately no
 * implicit default registry, so a short name cannot silently pull from somewhere unexpected.
 */
export function parseRegistryReference(text: string): RegistryReference {
  const bad = (why: string): never => {
    throw new OciError('invalid-reference', `image reference ${JSON.stringify(text)}: ${why}`);
  };
  let rest = text.replace(/^docker:\/\//, '');
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at !== -1) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    checkDigestSyntax(digest, `image reference ${JSON.stringify(text)}`);
  }
  const slash = rest.indexOf('/');
  if (slash === -1) bad('expected host[:port]/repository[:tag]');
  const host = rest.slice(0, slash);
  if (!(host.includes('.') || host.includes(':') || host === 'localhost'))
    bad(`${JSON.stringify(host)} is not a registry host (write the host explicitly)`);
  let repository = rest.slice(slash + 1);
  let tag: string | undefined;
  const colon = repository.lastIndexOf(':');
  if (colon !== -1) {
    tag = repository.slice(colon + 1);
    repository = repository.slice(0, colon);
    if (!/^[\w][\w.-]{0,127}$/.test(tag)) bad(`invalid tag ${JSON.stringify(tag)}`);
  }
  if (!/^[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*)*$/.test(repository))
    bad(`invalid repository name ${JSON.stringify(repository)}`);
  if (tag === undefined && digest === undefined) tag = 'latest';
  return {
    host,
    repository,
    ...(tag !== undefined ? { tag } : {}),
    ...(digest !== undefined ? { digest } : {}),
  };
}

export interface AuthChallenge {
  scheme: string;
  params: Record<string, string>;
}

/** Parses `WWW-Authenticate: Bearer realm="...",service="...",scope="..."` (quoted or token values). */
export function parseWwwAuthenticate(header: string): AuthChallenge | null {
  const m = /^\s*([A-Za-z]+)\s*(.*)$/s.exec(header);
  if (m === null) return null;
  const params: Record<string, string> = {};
  const re = /([A-Za-z0-9_-]+)\s*=\s*(?:"((?:[^"\\]|\\.)*)"|([^,\s]*))\s*,?\s*/gy;
  const body = m[2]!;
  re.lastIndex = 0;
  let p: RegExpExecArray | null;
  while (re.lastIndex < body.length && (p = re.exec(body)) !== null) {
    params[p[1]!.toLowerCase()] = p[2] !== undefined ? p[2].replace(/\\(.)/g, '$1') : p[3]!;
  }
  return { scheme: m[1]!.toLowerCase(), params };
}

export interface RegistryOptions {
  /** Speak plain HTTP (a registry on 127.0.0.1 in tests, or a LAN mirror). Default HTTPS. */
  plainHttp?: boolean;
  /** Extra CA certificate(s), PEM, trusted for the registry and its token service. */
  ca?: string | Buffer;
  credentials?: { username: string; password: string };
}

const MANIFEST_ACCEPT = [...MANIFEST_TYPES, ...INDEX_TYPES].join(', ');
const MAX_MANIFEST = 4 << 20;

/** Reads a JSON document's body, refusing more than `limit` bytes without buffering them. */
async function readLimited(res: HttpResponse, limit: number, what: string): Promise<Buffer> {
  try {
    const parts: Buffer[] = [];
    let total = 0;
    for await (const chunk of res.body as AsyncIterable<Buffer>) {
      total += chunk.length;
      if (total > limit) {
        res.body.destroy();
        throw new HttpBodyTooLarge();
      }
      parts.push(chunk);
    }
    return Buffer.concat(parts, total);
  } catch (e) {
    if (e instanceof HttpBodyTooLarge)
      throw new OciError('invalid-image', `${what} is larger than ${limit} bytes`);
    throw new OciError('registry', `${what}: download failed (${(e as Error).message})`, { cause: e });
  }
}

export class RegistrySource implements ImageSource {
  readonly ref: string;
  private readonly parsed: RegistryReference;
  private readonly base: string;
  private authorization: string | undefined;

  constructor(
    reference: string,
    private readonly options: RegistryOptions = {},
  ) {
    this.parsed = parseRegistryReference(reference);
    this.ref = `docker://${reference.replace(/^docker:\/\//, '')}`;
    this.base = `${options.plainHttp === true ? 'http' : 'https'}://${this.parsed.host}/v2/${this.parsed.repository}`;
  }

  private basic(): string | undefined {
    const c = this.options.credentials;
    return c === undefined
      ? undefined
      : `Basic ${Buffer.from(`${c.username}:${c.password}`).toString('base64')}`;
  }

  private async token(challenge: AuthChallenge, signal?: AbortSignal): Promise<string> {
    const realm = challenge.params.realm;
    if (realm === undefined) throw new OciError('registry', `${this.ref}: Bearer challenge without a realm`);
    const url = new URL(realm);
    if (challenge.params.service !== undefined) url.searchParams.set('service', challenge.params.service);
    url.searchParams.set('scope', challenge.params.scope ?? `repository:${this.parsed.repository}:pull`);
    const headers: Record<string, string> = {};
    const basic = this.basic();
    if (basic !== undefined) headers.authorization = basic;
    let res: HttpResponse;
    try {
      res = await httpGet(url, { headers, ...this.httpOpts(signal) });
    } catch (e) {
      throw new OciError(
        'registry',
        `${this.ref}: token service ${url.origin} unreachable (${(e as Error).message})`,
        { cause: e },
      );
    }
    if (res.status !== 200) {
      res.body.resume();
      throw new OciError(
        'registry',
        `${this.ref}: token service refused (${res.status} ${res.statusText})${basic === undefined ? ' for an anonymous pull' : ' for the given credentials'}`,
      );
    }
    let body: { token?: unknown; access_token?: unknown } = {};
    try {
      body = JSON.parse(await res.text(1 << 20)) as typeof body;
    } catch {
      /* reported below as "without a token" */
    }
    const token =
      typeof body.token === 'string'
        ? body.token
        : typeof body.access_token === 'string'
          ? body.access_token
          : undefined;
    if (token === undefined || token === '')
      throw new OciError('registry', `${this.ref}: token service answered without a token`);
    return `Bearer ${token}`;
  }

  /** GET with the auth dance: one retry after a 401 challenge. */
  private httpOpts(signal?: AbortSignal): { signal?: AbortSignal; ca?: string | Buffer } {
    return {
      ...(signal !== undefined ? { signal } : {}),
      ...(this.options.ca !== undefined ? { ca: this.options.ca } : {}),
    };
  }

  /** GET with the auth dance: one retry after a 401 challenge. */
  private async get(
    path: string,
    accept: string | undefined,
    what: string,
    signal?: AbortSignal,
  ): Promise<HttpResponse> {
    const url = `${this.base}${path}`;
    for (let attempt = 0; ; attempt++) {
      const headers: Record<string, string> = {};
      if (accept !== undefined) headers.accept = accept;
      if (this.authorization !== undefined) headers.authorization = this.authorization;
      let res: HttpResponse;
      try {
        res = await httpGet(url, { headers, ...this.httpOpts(signal) });
      } catch (e) {
        if (signal?.aborted === true) throw new OciError('aborted', `${this.ref}: aborted`, { cause: e });
        throw new OciError(
          'registry',
          `${this.ref}: cannot reach ${new URL(url).origin} (${(e as Error).message})`,
          { cause: e },
        );
      }
      if (res.status === 401 && attempt === 0) {
        res.body.resume();
        const challenge = parseWwwAuthenticate(res.header('www-authenticate') ?? '');
        if (challenge?.scheme === 'bearer') this.authorization = await this.token(challenge, signal);
        else if (challenge?.scheme === 'basic' && this.basic() !== undefined)
          this.authorization = this.basic();
        else
          throw new OciError(
            'registry',
            `${this.ref}: ${what}: authentication required${this.options.credentials === undefined ? ' (no credentials given)' : ''}`,
          );
        continue;
      }
      if (res.status >= 200 && res.status < 300) return res;
      const text = await res.text(64 << 10).catch(() => '');
      let detail: string;
      try {
        const j = JSON.parse(text) as { errors?: { code?: string; message?: string }[] };
        detail = (j.errors ?? []).map((x) => `${x.code ?? ''} ${x.message ?? ''}`.trim()).join('; ');
      } catch {
        detail = text.slice(0, 200);
      }
      const code = res.status === 404 ? 'not-found' : 'registry';
      throw new OciError(
        code,
        `${this.ref}: ${what}: ${res.status} ${res.statusText}${detail !== '' ? ` (${detail})` : ''}`,
      );
    }
  }

  private async fetchManifest(
    reference: string,
    signal?: AbortSignal,
  ): Promise<{ bytes: Buffer; mediaType?: string; digest: string }> {
    const res = await this.get(`/manifests/${reference}`, MANIFEST_ACCEPT, `manifest ${reference}`, signal);
    const bytes = await readLimited(res, MAX_MANIFEST, `${this.ref}: manifest ${reference}`);
    const computed = sha256Digest(bytes);
    const header = res.header('docker-content-digest');
    const expected = reference.startsWith('sha256:') ? reference : (header ?? computed);
    if (expected !== computed)
      throw new OciError(
        'digest-mismatch',
        `${this.ref}: manifest ${reference}: digest mismatch: expected ${expected}, got ${computed}`,
      );
    const mediaType = res.header('content-type')?.split(';')[0]?.trim();
    return { bytes, digest: computed, ...(mediaType !== undefined ? { mediaType } : {}) };
  }

  async resolve(want: PlatformSpec, signal?: AbortSignal): Promise<ResolvedImage> {
    const top = await this.fetchManifest(this.parsed.digest ?? this.parsed.tag!, signal);
    return resolveFromDescriptor({
      ref: this.ref,
      root: top,
      want,
      ...(signal !== undefined ? { signal } : {}),
      fetch: async (d, sig) => {
        if (
          d.mediaType !== undefined &&
          (MANIFEST_TYPES.includes(d.mediaType) || INDEX_TYPES.includes(d.mediaType))
        ) {
          return (await this.fetchManifest(d.digest, sig)).bytes;
        }
        const res = await this.get(`/blobs/${d.digest}`, undefined, `blob ${d.digest}`, sig);
        return readLimited(res, MAX_MANIFEST, `${this.ref}: config ${d.digest}`);
      },
      layerOpener: (d) => async (sig) => {
        const res = await this.get(`/blobs/${d.digest}`, undefined, `layer ${d.digest}`, sig);
        return res.body as Readable;
      },
    });
  }
}

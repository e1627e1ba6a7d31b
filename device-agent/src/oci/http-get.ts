import * as http from 'node:http';
import type { Readable } from 'node:stream';

/**
 * A GET over node:http/https rather than the global fetch, because registries on a LAN (a
 * mirror next to the boards, a lab registry) commonly use a private CA, and fetch in Node 20
 * cannot be given one without a process-wide NODE_EXTRA_CA_CERTS or an extra dependency.
 */

export interface HttpResponse {
  status: number;
  statusText: string;
  url: string;
  header(name: string): string | undefined;
  body: Readable;
  text(limit?: number): Promise<string>;
}

export interface HttpGetOptions {
  headers?: Record<string, string>;
  signal?: AbortSignal;
  /** Extra trusted CA certificates (PEM) besides the system's. */
  ca?: string | Buffer;
  maxRedirects?: number;
}

export class HttpBodyTooLarge extends Error {}

async function readText(body: Readable, limit: number): Promise<string> {
  const parts: Buffer[] = [];
  let total = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    total += chunk.length;
    if (total > limit) {
      body.destroy();
      throw new HttpBodyTooLarge(`response body larger than ${limit} bytes`);
    }
    parts.push(chunk);
  }
  return Buffer.concat(parts, total).toString('utf8');
}

async function once(
  url: URL,
  opts: HttpGetOptions,
  headers: Record<string, string>,
): Promise<http.IncomingMessage> {
  // node:https and node:tls are imported when a registry is reached over https: a static
  // import is hoisted to the top of the device bundle and would load TLS into every agent,
  // even one that never imports an image (docs/runtime.md, memory).
  const isHttps = url.protocol === 'https:';
  if (!isHttps && url.protocol !== 'http:') throw new Error(`unsupported URL scheme ${url.protocol}`);
  const mod = isHttps ? await import('node:https') : http;
  const rootCertificates =
    isHttps && opts.ca !== undefined ? (await import('node:tls')).rootCertificates : [];
  return new Promise((resolve, reject) => {
    const req = mod.get(url, {
      headers,
      ...(opts.signal !== undefined ? { signal: opts.signal } : {}),
      // `ca` replaces the default trust store: keep Node's bundled roots next to the extra CA.
      ...(isHttps && opts.ca !== undefined ? { ca: [...rootCertificates, opts.ca] } : {}),
    });
    req.once('response', resolve);
    req.once('error', reject);
  });
}

export async function httpGet(url: string | URL, opts: HttpGetOptions = {}): Promise<HttpResponse> {
  let current = new URL(url);
  const origin = current.origin;
  let headers = { ...(opts.headers ?? {}) };
  for (let hop = 0; ; hop++) {
    const res = await once(current, opts, headers);
    const status = res.statusCode ?? 0;
    const location = res.headers.location;
    if (status >= 300 && status < 400 && location !== undefined) {
      res.resume();
      if (hop >= (opts.maxRedirects ?? 5)) throw new Error(`too many redirects fetching ${String(url)}`);
      current = new URL(location, current);
      // Blob redirects go to storage (signed URLs): credentials for the registry must not follow.
      if (current.origin !== origin) {
        headers = Object.fromEntries(
          Object.entries(headers).filter(([k]) => k.toLowerCase() !== 'authorization'),
        );
      }
      continue;
    }
    return {
      status,
      statusText: res.statusMessage ?? '',
      url: current.toString(),
      header: (name) => {
        const v = res.headers[name.toLowerCase()];
        return Array.isArray(v) ? v.join(', ') : v;
      },
      body: res,
      text: (limit = 1 << 20) => readText(res, limit),
    };
  }
}

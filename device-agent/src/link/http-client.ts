import { request as httpRequest, type IncomingMessage, type OutgoingHttpHeaders } from 'node:http';

/**
 * A small HTTP(S) client over node:http. Not fetch: the agent must pin the hub's CA (TLS with a
 * CA taken from the config, not the system store) and stream large objects with back-pressure
 * into files, which node:https does directly.
 */
export interface HttpRequestOptions {
  method?: 'GET' | 'POST' | 'HEAD';
  headers?: OutgoingHttpHeaders;
  body?: Buffer | string;
  /** PEM CA certificate(s) that alone are trusted for https:// URLs. */
  ca?: string | Buffer;
  basicAuth?: { username: string; password: string };
  signal?: AbortSignal;
  /** No byte received for this long: the request fails (a stalled link must not hang a download). */
  idleTimeoutMs?: number;
}

export class HttpError extends Error {
  override readonly name = 'HttpError';
  constructor(
    message: string,
    /** A network-level failure (reset, refused, timeout), as opposed to an HTTP status. */
    readonly transient: boolean,
  ) {
    super(message);
  }
}

/** Sends a request and resolves with the response head; the caller consumes or destroys the body. */
export async function httpOpen(url: string, opts: HttpRequestOptions = {}): Promise<IncomingMessage> {
  const u = new URL(url);
  const isHttps = u.protocol === 'https:';
  if (!isHttps && u.protocol !== 'http:')
    throw new HttpError(`unsupported URL scheme ${u.protocol} in ${url}`, false);
  // node:https (and with it node:tls) only for an https:// URL: a device whose hub is reached
  // over plain HTTP does not keep TLS's code and objects resident (docs/runtime.md, memory).
  const request = isHttps ? (await import('node:https')).request : httpRequest;
  const headers: OutgoingHttpHeaders = { ...opts.headers };
  if (opts.basicAuth) {
    headers.authorization = `Basic ${Buffer.from(`${opts.basicAuth.username}:${opts.basicAuth.password}`).toString('base64')}`;
  }
  if (opts.body !== undefined) headers['content-length'] = Buffer.byteLength(opts.body);
  return new Promise((resolve, reject) => {
    if (opts.signal?.aborted) {
      reject(opts.signal.reason instanceof Error ? opts.signal.reason : new Error('aborted'));
      return;
    }
    const req = request(
      u,
      {
        method: opts.method ?? 'GET',
        headers,
        signal: opts.signal,
        ...(isHttps && opts.ca !== undefined ? { ca: opts.ca } : {}),
      },
      (res) => {
        if (opts.idleTimeoutMs)
          res.setTimeout(opts.idleTimeoutMs, () =>
            res.destroy(new HttpError(`no data from ${u.host} for ${opts.idleTimeoutMs} ms`, true)),
          );
        resolve(res);
      },
    );
    if (opts.idleTimeoutMs) {
      req.setTimeout(opts.idleTimeoutMs, () =>
        req.destroy(new HttpError(`no answer from ${u.host} within ${opts.idleTimeoutMs} ms`, true)),
      );
    }
    req.on('error', (e) => {
      if (e.name === 'AbortError') reject(opts.signal?.reason instanceof Error ? opts.signal.reason : e);
      else
        reject(
          e instanceof HttpError
            ? e
            : new HttpError(`${opts.method ?? 'GET'} ${u.origin}${u.pathname} failed: ${e.message}`, true),
        );
    });
    req.end(opts.body);
  });
}

/** Reads a whole (small) body, refusing more than `maxBytes`. */
export async function readBody(res: IncomingMessage, maxBytes = 1024 * 1024): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let n = 0;
  for await (const chunk of res) {
    n += (chunk as Buffer).length;
    if (n > maxBytes) {
      res.destroy();
      throw new HttpError(`response body exceeds ${maxBytes} bytes`, false);
    }
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

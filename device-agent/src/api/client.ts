// A client of the local control API over its unix socket (the CLI's only way to the agent).
import { request, type IncomingMessage } from 'node:http';

export class ApiError extends Error {
  override readonly name = 'ApiError';
  constructor(
    readonly status: number,
    message: string,
    readonly body: unknown,
  ) {
    super(message);
  }
}

export class AgentUnreachable extends Error {
  override readonly name = 'AgentUnreachable';
}

export class ApiClient {
  constructor(readonly socketPath: string) {}

  private raw(method: string, path: string, body?: unknown): Promise<IncomingMessage> {
    return new Promise((resolve, reject) => {
      const data = body === undefined ? undefined : JSON.stringify(body);
      const req = request(
        {
          socketPath: this.socketPath,
          method,
          path,
          headers: data
            ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) }
            : {},
        },
        resolve,
      );
      req.on('error', (e: NodeJS.ErrnoException) => {
        reject(
          e.code === 'ENOENT' || e.code === 'ECONNREFUSED'
            ? new AgentUnreachable(
                `the agent is not running (no answer on ${this.socketPath}); start it with \`fleet-agent run\``,
              )
            : e,
        );
      });
      req.end(data);
    });
  }

  async json<T>(method: string, path: string, body?: unknown): Promise<T> {
    const res = await this.raw(method, path, body);
    const chunks: Buffer[] = [];
    for await (const c of res as AsyncIterable<Buffer>) chunks.push(c);
    const text = Buffer.concat(chunks).toString('utf8');
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      parsed = text;
    }
    const status = res.statusCode ?? 0;
    if (status >= 400) {
      const msg =
        typeof parsed === 'object' && parsed !== null && 'error' in parsed
          ? String((parsed as { error: unknown }).error)
          : text;
      throw new ApiError(status, msg, parsed);
    }
    return parsed as T;
  }

  /** A streamed body (logs with follow): chunks as they arrive. */
  async *stream(path: string, signal?: AbortSignal): AsyncGenerator<string> {
    const res = await this.raw('GET', path);
    if ((res.statusCode ?? 0) >= 400) {
      const chunks: Buffer[] = [];
      for await (const c of res as AsyncIterable<Buffer>) chunks.push(c);
      const text = Buffer.concat(chunks).toString('utf8');
      let msg = text;
      try {
        msg = String((JSON.parse(text) as { error?: unknown }).error ?? text);
      } catch {
        // not JSON: the text is the message
      }
      throw new ApiError(res.statusCode ?? 0, msg, text);
    }
    signal?.addEventListener('abort', () => res.destroy(), { once: true });
    try {
      for await (const c of res as AsyncIterable<Buffer>) yield c.toString('utf8');
    } catch (e) {
      if (!signal?.aborted) throw e;
    }
  }
}

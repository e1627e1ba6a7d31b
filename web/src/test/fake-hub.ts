/**
 * The hub boundary for component tests: a `fetch` that answers from a route table with canned
 * JSON shaped like the hub's (see builders.ts), and records every request so tests can assert
 * on what the dashboard asked for. Unknown routes answer 404 like the hub would, loudly.
 */
export interface RecordedRequest {
  method: string;
  path: string;
  url: URL;
  body: unknown;
}

export type Handler = (req: RecordedRequest) => unknown;

export class FakeHub {
  readonly requests: RecordedRequest[] = [];
  readonly #routes = new Map<string, Handler>();

  /** `on('GET /api/v1/devices/:id', req => body)`; `:x` matches one path segment. */
  on(route: string, handler: Handler | object): this {
    this.#routes.set(route, typeof handler === 'function' ? (handler as Handler) : () => handler);
    return this;
  }

  /** Requests to a method+path (no query string). */
  calls(method: string, path: string): RecordedRequest[] {
    return this.requests.filter((r) => r.method === method && r.path === path);
  }

  readonly fetch: typeof fetch = async (input, init) => {
    const url = new URL(String(input), 'http://hub.test');
    const method = (init?.method ?? 'GET').toUpperCase();
    const body = typeof init?.body === 'string' ? (JSON.parse(init.body) as unknown) : undefined;
    const req: RecordedRequest = { method, path: url.pathname, url, body };
    this.requests.push(req);
    for (const [route, handler] of this.#routes) {
      const [m, pattern] = route.split(' ') as [string, string];
      if (m !== method) continue;
      const re = new RegExp(`^${pattern.replace(/:[a-zA-Z]+/g, '[^/]+')}$`);
      if (!re.test(url.pathname)) continue;
      // Like a real fetch, an aborted request rejects with AbortError (react-query cancels this way).
      const signal = init?.signal;
      const out: unknown = await new Promise((resolve, reject) => {
        const abort = () => reject(new DOMException('The operation was aborted.', 'AbortError'));
        if (signal?.aborted) return abort();
        signal?.addEventListener('abort', abort, { once: true });
        Promise.resolve(handler(req)).then(resolve, reject);
      });
      const isEnvelope =
        typeof out === 'object' &&
        out !== null &&
        ('status' in out || 'body' in out) &&
        Object.keys(out).every((k) => k === 'status' || k === 'body');
      const status = isEnvelope ? ((out as { status?: number }).status ?? 200) : 200;
      const payload = isEnvelope ? (out as { body?: unknown }).body : out;
      if (status === 204) return new Response(null, { status });
      return new Response(JSON.stringify(payload ?? null), {
        status,
        headers: { 'content-type': 'application/json' },
      });
    }
    return new Response(
      JSON.stringify({ statusCode: 404, message: `fake hub: no route for ${method} ${url.pathname}` }),
      { status: 404 },
    );
  };
}

/** A scripted EventSource: tests push server-sent events with `emit`. */
export class FakeEventSource {
  static readonly instances: FakeEventSource[] = [];
  readonly url: string;
  readyState = 0;
  onopen: ((e: Event) => void) | null = null;
  onerror: ((e: Event) => void) | null = null;
  closed = false;
  readonly #listeners = new Map<string, Set<(e: MessageEvent) => void>>();

  constructor(url: string) {
    this.url = url;
    FakeEventSource.instances.push(this);
  }

  addEventListener(type: string, l: (e: MessageEvent) => void): void {
    let s = this.#listeners.get(type);
    if (!s) this.#listeners.set(type, (s = new Set()));
    s.add(l);
  }

  removeEventListener(type: string, l: (e: MessageEvent) => void): void {
    this.#listeners.get(type)?.delete(l);
  }

  open(): void {
    this.readyState = 1;
    this.onopen?.(new Event('open'));
  }

  /** Sends `event: <type>` with the HubEvent JSON, as the hub's events controller does. */
  emit(type: string, event: Record<string, unknown>): void {
    // scope and minRole are the hub's to filter by; the dashboard reads them but does not care.
    const data = JSON.stringify({
      type,
      at: new Date().toISOString(),
      scope: 'devices',
      minRole: 'viewer',
      data: {},
      ...event,
    });
    for (const l of this.#listeners.get(type) ?? []) l(new MessageEvent(type, { data }));
  }

  close(): void {
    this.closed = true;
    this.readyState = 2;
  }

  static latest(predicate: (s: FakeEventSource) => boolean = () => true): FakeEventSource | undefined {
    return [...FakeEventSource.instances].reverse().find((s) => !s.closed && predicate(s));
  }

  static reset(): void {
    FakeEventSource.instances.length = 0;
  }
}

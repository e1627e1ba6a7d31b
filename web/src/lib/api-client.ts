import { parseApiResponse } from '@fleet/protocol/browser';
import type { z } from 'zod';

/** One bad field, as the hub's 400 answers name it (`$.tags[1]`). */
export interface FieldError {
  path: string;
  message: string;
}

/** A non-2xx answer from the hub, with its message and field errors when it gave any. */
export class ApiError extends Error {
  readonly status: number;
  readonly issues: FieldError[];

  constructor(status: number, message: string, issues: FieldError[] = []) {
    super(message);
    this.name = 'ApiError';
    this.status = status;
    this.issues = issues;
  }
}

/** The hub answered 2xx with a body this dashboard does not understand (version drift). */
export class ResponseShapeError extends Error {
  constructor(path: string, detail: string) {
    super(`unexpected answer from ${path}: ${detail}`);
    this.name = 'ResponseShapeError';
  }
}

export type QueryValue = string | number | boolean | undefined | null | readonly string[];

export function buildQuery(params: Record<string, QueryValue>): string {
  const sp = new URLSearchParams();
  for (const [key, value] of Object.entries(params)) {
    if (value === undefined || value === null || value === '') continue;
    if (Array.isArray(value)) for (const v of value) sp.append(key, v);
    else sp.set(key, String(value));
  }
  const s = sp.toString();
  return s ? `?${s}` : '';
}

export interface ApiClientOptions {
  /** Origin of the hub; empty means the page's own origin (the hub serves the dashboard). */
  baseUrl?: string;
  fetch?: typeof fetch;
  /** Called on any 401: the session is gone, the app sends the user to the login page. */
  onUnauthorized?: () => void;
}

/**
 * The dashboard's only door to the hub. Every answer is parsed with the route's schema from
 * @fleet/protocol/browser (the hub's own shapes) so that a hub/web version mismatch shows as a
 * clear error instead of `undefined` deep in a component.
 * The session is the hub's httpOnly cookie: the browser sends it, this code never sees it.
 */
export class ApiClient {
  readonly baseUrl: string;
  readonly #fetch: typeof fetch;
  #onUnauthorized: (() => void) | undefined;

  constructor(options: ApiClientOptions = {}) {
    this.baseUrl = options.baseUrl ?? '';
    // Bound so that `window.fetch` keeps its receiver.
    const f = options.fetch ?? globalThis.fetch;
    this.#fetch = (input, init) => f(input, init);
    this.#onUnauthorized = options.onUnauthorized;
  }

  set onUnauthorized(handler: (() => void) | undefined) {
    this.#onUnauthorized = handler;
  }

  url(path: string): string {
    return `${this.baseUrl}${path}`;
  }

  async request<S extends z.ZodType>(
    method: string,
    path: string,
    schema: S,
    options: { body?: unknown; signal?: AbortSignal | undefined; skipUnauthorizedRedirect?: boolean } = {},
  ): Promise<z.output<S>> {
    const init: RequestInit = { method, credentials: 'same-origin', headers: { accept: 'application/json' } };
    if (options.signal) init.signal = options.signal;
    if (options.body !== undefined) {
      init.body = JSON.stringify(options.body);
      init.headers = { accept: 'application/json', 'content-type': 'application/json' };
    }
    const res = await this.#fetch(this.url(path), init);
    if (res.status === 401 && !options.skipUnauthorizedRedirect) this.#onUnauthorized?.();
    if (!res.ok) throw await toApiError(res);
    const text = res.status === 204 ? '' : await res.text();
    const json: unknown = text ? JSON.parse(text) : undefined;
    const parsed = parseApiResponse(`${method} ${path}`, schema, json);
    if (!parsed.ok) {
      const first = parsed.error.issues[0];
      throw new ResponseShapeError(path, first ? `${first.path}: ${first.message}` : 'invalid');
    }
    return parsed.value;
  }

  get<S extends z.ZodType>(path: string, schema: S, signal?: AbortSignal): Promise<z.output<S>> {
    return this.request('GET', path, schema, { signal });
  }

  post<S extends z.ZodType>(path: string, schema: S, body?: unknown): Promise<z.output<S>> {
    return this.request('POST', path, schema, { body });
  }

  put<S extends z.ZodType>(path: string, schema: S, body?: unknown): Promise<z.output<S>> {
    return this.request('PUT', path, schema, { body });
  }

  patch<S extends z.ZodType>(path: string, schema: S, body?: unknown): Promise<z.output<S>> {
    return this.request('PATCH', path, schema, { body });
  }

  delete<S extends z.ZodType>(path: string, schema: S): Promise<z.output<S>> {
    return this.request('DELETE', path, schema);
  }
}

async function toApiError(res: Response): Promise<ApiError> {
  let message = `${res.status} ${res.statusText}`.trim();
  let issues: FieldError[] = [];
  try {
    const body = (await res.json()) as { message?: unknown; issues?: unknown };
    if (typeof body.message === 'string') message = body.message;
    else if (Array.isArray(body.message)) message = body.message.join('; ');
    if (Array.isArray(body.issues)) {
      issues = body.issues.filter(
        (i): i is FieldError =>
          typeof i === 'object' &&
          i !== null &&
          typeof (i as FieldError).path === 'string' &&
          typeof (i as FieldError).message === 'string',
      );
    }
  } catch {
    // Not JSON (a proxy's HTML error page): the status line is all there is.
  }
  return new ApiError(res.status, message, issues);
}

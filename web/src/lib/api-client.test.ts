import { describe, expect, it } from 'vitest';
import { z } from 'zod';
import { ApiClient, ApiError, buildQuery, ResponseShapeError } from './api-client.js';

function client(res: Response, onUnauthorized?: () => void) {
  const seen: RequestInit[] = [];
  const api = new ApiClient({
    fetch: async (_url, init) => {
      seen.push(init ?? {});
      return res;
    },
    onUnauthorized,
  });
  return { api, seen };
}

describe('ApiClient', () => {
  it('parses answers with the schema and sends the session cookie (same-origin)', async () => {
    const { api, seen } = client(new Response(JSON.stringify({ a: 1 }), { status: 200 }));
    expect(await api.get('/x', z.object({ a: z.number() }))).toEqual({ a: 1 });
    expect(seen[0]!.credentials).toBe('same-origin');
  });

  it('turns a 400 into an ApiError with the field errors', async () => {
    const { api } = client(
      new Response(
        JSON.stringify({
          statusCode: 400,
          message: 'invalid body',
          issues: [{ path: '$.name', message: 'required' }],
        }),
        { status: 400 },
      ),
    );
    const e = await api.post('/x', z.unknown(), {}).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ApiError);
    expect((e as ApiError).status).toBe(400);
    expect((e as ApiError).issues).toEqual([{ path: '$.name', message: 'required' }]);
  });

  it('calls onUnauthorized on a 401, unless asked not to', async () => {
    let calls = 0;
    const { api } = client(new Response('{}', { status: 401 }), () => calls++);
    await api.get('/x', z.unknown()).catch(() => {});
    expect(calls).toBe(1);
    const { api: api2 } = client(new Response('{}', { status: 401 }), () => calls++);
    await api2.request('GET', '/x', z.unknown(), { skipUnauthorizedRedirect: true }).catch(() => {});
    expect(calls).toBe(1);
  });

  it('reports a hub answer of the wrong shape with its path', async () => {
    const { api } = client(new Response(JSON.stringify({ items: 'no' }), { status: 200 }));
    const e = await api
      .get('/api/v1/devices', z.object({ items: z.array(z.string()) }))
      .catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ResponseShapeError);
    expect((e as Error).message).toMatch(/^unexpected answer from \/api\/v1\/devices: \$\.items/);
  });

  it('keeps the status line when the error body is not JSON', async () => {
    const { api } = client(
      new Response('<html>bad gateway</html>', { status: 502, statusText: 'Bad Gateway' }),
    );
    const e = (await api.get('/x', z.unknown()).catch((x: unknown) => x)) as ApiError;
    expect(e.message).toBe('502 Bad Gateway');
  });

  it('builds query strings with repeated keys and no empty values', () => {
    expect(buildQuery({ a: 'x', tag: ['t1', 't2'], b: undefined, c: '', d: 0, e: false })).toBe(
      '?a=x&tag=t1&tag=t2&d=0&e=false',
    );
    expect(buildQuery({})).toBe('');
  });
});

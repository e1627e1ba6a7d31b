import { createServer, type Server } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { HttpError, httpOpen, readBody } from './http-client.js';

let server: Server | undefined;
afterEach(async () => {
  await new Promise((r) => (server ? server.close(r) : r(undefined)));
  server = undefined;
});

async function serve(body: string): Promise<string> {
  server = createServer((req, res) => res.end(`${req.method} ${req.url} ${body}`));
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
  const addr = server.address();
  if (addr === null || typeof addr === 'string') throw new Error('no port');
  return `http://127.0.0.1:${addr.port}`;
}

describe('httpOpen', () => {
  it('refuses a scheme other than http and https, naming it, as a permanent error', async () => {
    const err = await httpOpen('ftp://hub.example/objects/x').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HttpError);
    expect((err as HttpError).message).toBe('unsupported URL scheme ftp: in ftp://hub.example/objects/x');
    expect((err as HttpError).transient).toBe(false);
  });

  it('GETs over plain http (node:https is only imported for https:// URLs)', async () => {
    const base = await serve('ok');
    const res = await httpOpen(`${base}/a?b=1`);
    expect(res.statusCode).toBe(200);
    expect((await readBody(res)).toString()).toBe('GET /a?b=1 ok');
  });

  it('rejects with the abort reason when the signal is already aborted', async () => {
    const base = await serve('never');
    const ac = new AbortController();
    ac.abort(new Error('stopped'));
    await expect(httpOpen(base, { signal: ac.signal })).rejects.toThrow('stopped');
  });

  it('reports a refused https connection as transient (the lazily imported client is used)', async () => {
    const base = await serve('x');
    const port = new URL(base).port;
    await new Promise((r) => server!.close(r));
    server = undefined;
    const err = await httpOpen(`https://127.0.0.1:${port}/`).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HttpError);
    expect((err as HttpError).transient).toBe(true);
    expect((err as HttpError).message).toMatch(/^GET https:\/\/127\.0\.0\.1:\d+\/ failed: .*ECONNREFUSED/);
  });
});

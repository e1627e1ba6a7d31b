import { createServer, type Server } from 'node:http';
import { afterEach, describe, expect, it } from 'vitest';
import { httpGet } from './http-get.js';

let server: Server | undefined;
afterEach(async () => {
  await new Promise((r) => (server ? server.close(r) : r(undefined)));
  server = undefined;
});

async function serve(): Promise<string> {
  server = createServer((req, res) => {
    if (req.url === '/moved') res.writeHead(302, { location: '/here' }).end();
    else res.end(`at ${req.url}`);
  });
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
  const addr = server.address();
  if (addr === null || typeof addr === 'string') throw new Error('no port');
  return `http://127.0.0.1:${addr.port}`;
}

describe('httpGet', () => {
  it('refuses a scheme other than http and https, naming it', async () => {
    await expect(httpGet('ftp://registry.example/v2/')).rejects.toThrow('unsupported URL scheme ftp:');
  });

  it('GETs over plain http and follows a redirect', async () => {
    const base = await serve();
    const res = await httpGet(`${base}/moved`);
    expect(res.status).toBe(200);
    expect(res.url).toBe(`${base}/here`);
    expect(await res.text()).toBe('at /here');
  });

  it('fails on an https registry that refuses the connection (node:https imported on demand)', async () => {
    const base = await serve();
    const port = new URL(base).port;
    await new Promise((r) => server!.close(r));
    server = undefined;
    await expect(httpGet(`https://127.0.0.1:${port}/v2/`)).rejects.toThrow(
      `connect ECONNREFUSED 127.0.0.1:${port}`,
    );
    // With an extra CA (node:tls imported on demand for its root certificates).
    await expect(httpGet(`https://127.0.0.1:${port}/v2/`, { ca: 'not a certificate' })).rejects.toThrow(
      `connect ECONNREFUSED 127.0.0.1:${port}`,
    );
  });
});

// The device bundle loads mqtt.js's transports on use (scripts/mqtt-lazy-transports.mjs, a
// memory cut: docs/runtime.md). mqtt bundled with that plugin must still connect over every
// transport the agent may be given, and plain mqtt:// must not load TLS, WebSocket or SOCKS.
import { spawn } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { createServer as createTcpServer, type Server as TcpServer, type AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import type { Duplex } from 'node:stream';
import { createServer as createTlsServer } from 'node:tls';
import { fileURLToPath } from 'node:url';
import { Aedes } from 'aedes';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lruCacheLazyClock, mqttLazyTransports } from '../../scripts/mqtt-lazy-transports.mjs';
import { makeTestPki } from './helpers/link-pki.js';

const pkg = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
// ws is mqtt's dependency, not ours: resolved from mqtt's own location (typed here by hand).
interface WsServer {
  on(event: 'connection', cb: (socket: unknown) => void): void;
  close(cb: () => void): void;
}
const { WebSocketServer, createWebSocketStream } = createRequire(
  createRequire(join(pkg, 'package.json')).resolve('mqtt'),
)('ws') as {
  WebSocketServer: new (opts: { server: HttpServer }) => WsServer;
  createWebSocketStream: (socket: unknown) => Duplex;
};

// The child: connects, publishes to itself at QoS 1, and reports which builtins got loaded.
const client = `
import { connect } from 'mqtt';
import { readFileSync } from 'node:fs';
const [url, caFile] = process.argv.slice(2);
const c = connect(url, { clientId: 'bundle-test', reconnectPeriod: 0, connectTimeout: 10000, ...(caFile ? { ca: readFileSync(caFile) } : {}) });
const done = (r) => { console.log(JSON.stringify({ ...r, loaded: process.moduleLoadList.filter((m) => /^NativeModule (tls|https|dns|assert|zlib|perf_hooks)$/.test(m)).map((m) => m.slice(13)).sort() })); c.end(true); };
c.on('error', (e) => done({ ok: false, error: e.message }));
c.on('connect', () => {
  c.subscribe('t', { qos: 1 }, () => c.publish('t', 'hello', { qos: 1 }));
});
c.on('message', (_t, m) => done({ ok: m.toString() === 'hello' }));
`;

let work: string;
let bundle: string;
let aedes: Aedes;
const servers: { close(cb: () => void): unknown }[] = [];
let tcpPort: number;
let tlsPort: number;
let wsPort: number;
let caFile: string;
let pkiDir: string;

const portOf = (s: TcpServer) => (s.address() as AddressInfo).port;
const listen = (s: TcpServer) => new Promise<number>((r) => s.listen(0, '127.0.0.1', () => r(portOf(s))));

beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'bundle-mqtt-'));
  bundle = join(work, 'client.mjs');
  await build({
    stdin: { contents: client, resolveDir: pkg, loader: 'js' },
    bundle: true,
    platform: 'node',
    target: 'node20',
    format: 'esm',
    outfile: bundle,
    banner: {
      js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);",
    },
    external: ['bufferutil', 'utf-8-validate'],
    plugins: [mqttLazyTransports, lruCacheLazyClock],
    logLevel: 'warning',
  });
  aedes = await Aedes.createBroker();
  const pki = await makeTestPki();
  caFile = pki.ca;
  pkiDir = pki.dir;
  const tcp = createTcpServer(aedes.handle);
  const tls = createTlsServer({ key: await readFile(pki.key), cert: await readFile(pki.cert) }, aedes.handle);
  servers.push(tcp, tls);
  tcpPort = await listen(tcp);
  tlsPort = await listen(tls);
  // A WebSocket endpoint: ws upgrades on a plain http server.
  const httpServer = createHttpServer();
  servers.push(httpServer);
  const wss = new WebSocketServer({ server: httpServer });
  wss.on('connection', (socket) => aedes.handle(createWebSocketStream(socket)));
  wsPort = await new Promise<number>((r) =>
    httpServer.listen(0, '127.0.0.1', () => r((httpServer.address() as AddressInfo).port)),
  );
  servers.push(wss);
});

afterAll(async () => {
  for (const s of servers) await new Promise<void>((r) => s.close(() => r()));
  await new Promise<void>((r) => aedes?.close(() => r()));
  await rm(work, { recursive: true, force: true });
  if (pkiDir) await rm(pkiDir, { recursive: true, force: true });
});

async function runClient(...args: string[]): Promise<{ ok: boolean; error?: string; loaded: string[] }> {
  const p = spawn(process.execPath, [bundle, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  p.stdout.on('data', (d: Buffer) => (out += d.toString()));
  p.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const code = await new Promise<number | null>((r) => p.on('exit', r));
  const line = out.trim().split('\n').pop();
  if (!line) throw new Error(`client exited ${code} without a result: ${err}`);
  return JSON.parse(line) as { ok: boolean; error?: string; loaded: string[] };
}

describe('mqtt in the device bundle (transports required on use)', () => {
  it('connects over mqtt:// without loading TLS, https, zlib, the SOCKS client (dns, assert) or perf_hooks (the lru-cache clock)', async () => {
    expect(await runClient(`mqtt://127.0.0.1:${tcpPort}`)).toEqual({ ok: true, loaded: [] });
  });

  it('connects over mqtts:// with the CA it is given (tls loaded then)', async () => {
    const r = await runClient(`mqtts://127.0.0.1:${tlsPort}`, caFile);
    expect(r.ok).toBe(true);
    expect(r.loaded).toContain('tls');
  });

  it('refuses an mqtts:// broker whose certificate the CA did not sign', async () => {
    const r = await runClient(`mqtts://127.0.0.1:${tlsPort}`);
    expect(r.ok).toBe(false);
    expect(r.error).toMatch(/self[- ]signed|unable to verify|unable to get local issuer/i);
  });

  it('connects over ws:// (the WebSocket transport is required on first use)', async () => {
    expect((await runClient(`ws://127.0.0.1:${wsPort}`)).ok).toBe(true);
  });
});

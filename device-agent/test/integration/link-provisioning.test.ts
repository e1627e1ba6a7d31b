import { createServer as createHttpServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseProvisionRequest, type ProvisionRequest, type ProvisionResponse } from '@fleet/protocol';
import { AgentConfigError, loadAgentConfig } from '../../src/link/config.js';
import { IdentityStore } from '../../src/link/identity.js';
import { Provisioner, ProvisioningImpossibleError, PROVISION_PATH } from '../../src/link/provisioning.js';
import { recordingLogger, waitFor } from './helpers/link-fixtures.js';
import { makeTestPki } from './helpers/link-pki.js';

/**
 * A TEST DOUBLE of the hub's `POST /api/v1/provision`, not the hub: it validates the request
 * with protocol's ProvisionRequest and answers from a script. The real hub end-to-end test
 * comes with the hub.
 */
type Answer = { status: number; body: unknown } | 'hang';
class FakeHubProvisioning {
  readonly requests: ProvisionRequest[] = [];
  readonly invalid: string[] = [];
  constructor(
    private readonly script: Answer[],
    private readonly path = PROVISION_PATH,
  ) {}
  handler = async (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    if (
      req.method !== 'POST' ||
      req.url !== this.path ||
      req.headers['content-type'] !== 'application/json'
    ) {
      res.writeHead(404).end();
      return;
    }
    const parsed = parseProvisionRequest(JSON.parse(Buffer.concat(chunks).toString()));
    if (!parsed.ok) {
      this.invalid.push(parsed.error.message);
      res
        .writeHead(400, { 'content-type': 'application/json' })
        .end(JSON.stringify({ message: parsed.error.message }));
      return;
    }
    this.requests.push(parsed.value);
    const a = this.script.length > 1 ? this.script.shift() : this.script[0];
    if (!a || a === 'hang') return; // never answers
    res
      .writeHead(a.status, { 'content-type': 'application/json' })
      .end(typeof a.body === 'string' ? a.body : JSON.stringify(a.body));
  };
}

const credentials = (deviceId = 'dev-0001'): ProvisionResponse => ({
  deviceId,
  fleetId: 'fleet-1',
  mqtt: { url: 'mqtt://127.0.0.1:1883', username: deviceId, password: 'secret-password', clientId: deviceId },
  objectBaseUrl: 'http://127.0.0.1:8080/api/v1/objects',
});

let storage: string;
const servers: { close(): void }[] = [];
beforeEach(async () => {
  storage = await mkdtemp(join(tmpdir(), 'link-prov-'));
});
afterEach(async () => {
  for (const s of servers.splice(0)) s.close();
  await rm(storage, { recursive: true, force: true });
});

async function hub(script: Answer[], prefix = ''): Promise<{ url: string; fake: FakeHubProvisioning }> {
  const fake = new FakeHubProvisioning(script, `${prefix}${PROVISION_PATH}`);
  const server = createHttpServer((req, res) => void fake.handler(req, res));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  servers.push({ close: () => (server.closeAllConnections(), server.close()) });
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}${prefix}`, fake };
}

function provisioner(hubUrl: string, extra: { claimToken?: string | null; caFile?: string } = {}) {
  const logger = recordingLogger();
  const p = new Provisioner({
    config: {
      hubUrl,
      board: 'qemu-aarch64',
      name: 'bench-unit-1',
      ...(extra.claimToken === null ? {} : { claimToken: extra.claimToken ?? 'claim-token-0123456789' }),
      ...(extra.caFile ? { tls: { caFile: extra.caFile } } : {}),
    },
    identity: new IdentityStore(storage),
    agentVersion: '0.1.0',
    hardwareId: async () => 'hw-serial-42',
    logger,
    backoff: { initialMs: 5, maxMs: 20 },
    refusedBackoff: { initialMs: 10, maxMs: 40 },
    requestTimeoutMs: 2_000,
  });
  return { p, logger };
}

const mode = async (path: string) => (await stat(path)).mode & 0o777;

describe('provisioning client against a test double of POST /api/v1/provision', () => {
  it('generates the key on the device, retries through 5xx and a refused token, stores credentials 0600', async () => {
    const { url, fake } = await hub([
      { status: 503, body: { message: 'starting' } },
      { status: 401, body: { message: 'claim token expired' } },
      { status: 200, body: { ...credentials(), mqtt: { ...credentials().mqtt } } },
    ]);
    const { p, logger } = provisioner(url);
    const got = await p.ensureProvisioned();
    expect(got.deviceId).toBe('dev-0001');
    expect(fake.invalid).toEqual([]);
    expect(fake.requests).toHaveLength(3);
    const req = fake.requests[0] as ProvisionRequest;
    expect(req).toMatchObject({
      claimToken: 'claim-token-0123456789',
      hardwareId: 'hw-serial-42',
      board: 'qemu-aarch64',
      agentVersion: '0.1.0',
      name: 'bench-unit-1',
    });
    // The public key sent is the one stored; the private key never left the device.
    const id = new IdentityStore(storage);
    expect((await readFile(id.publicKeyPath, 'utf8')).trim()).toBe(req.publicKey);
    expect(JSON.stringify(fake.requests)).not.toContain('PRIVATE KEY');
    expect(await mode(id.keyPath)).toBe(0o600);
    expect(await mode(id.credentialsPath)).toBe(0o600);
    expect(await mode(id.dir)).toBe(0o700);
    expect(JSON.parse(await readFile(id.credentialsPath, 'utf8'))).toEqual(credentials());
    expect(
      logger.lines.some(
        (l) => l.level === 'error' && l.message.includes('401') && l.message.includes('claim token expired'),
      ),
    ).toBe(true);
    expect(logger.lines.some((l) => l.level === 'warn' && l.message.includes('503'))).toBe(true);

    // Already provisioned: no request at all.
    const again = provisioner(url);
    expect((await again.p.ensureProvisioned()).deviceId).toBe('dev-0001');
    expect(fake.requests).toHaveLength(3);
  });

  it('keeps the path prefix of a hub URL (a hub behind a reverse proxy)', async () => {
    const { url, fake } = await hub([{ status: 201, body: credentials() }], '/fleet');
    await provisioner(`${url}/`).p.ensureProvisioned();
    expect(fake.requests).toHaveLength(1);
  });

  it('keeps the same key pair across a crash between key generation and provisioning', async () => {
    const id = new IdentityStore(storage);
    const first = await id.loadOrCreateKey();
    const { url, fake } = await hub([{ status: 201, body: credentials() }]);
    await provisioner(url).p.ensureProvisioned();
    expect(fake.requests[0]?.publicKey).toBe(first.publicKeyBase64);
  });

  it('retries an answer that is not a valid ProvisionResponse (or carries an unusable device id)', async () => {
    const { url, fake } = await hub([
      { status: 200, body: 'not json at all' },
      { status: 200, body: { deviceId: 'x' } },
      { status: 200, body: credentials('bad/id+#') },
      { status: 200, body: credentials('dev-0002') },
    ]);
    const { p, logger } = provisioner(url);
    expect((await p.ensureProvisioned()).deviceId).toBe('dev-0002');
    expect(fake.requests).toHaveLength(4);
    const warnings = logger.lines.filter((l) => l.level === 'warn').map((l) => l.message);
    expect(warnings[0]).toMatch(/not JSON/);
    expect(warnings[1]).toMatch(/invalid ProvisionResponse: .*\$\.fleetId/);
    expect(warnings[2]).toMatch(/not a valid device id/);
  });

  it('retries while the hub is unreachable and stops when the signal aborts, storing nothing', async () => {
    const { url } = await hub([{ status: 500, body: {} }]);
    const { p } = provisioner(url.replace(/:\d+$/, ':1')); // nothing listens on port 1
    const ac = new AbortController();
    setTimeout(() => ac.abort(new Error('agent shutting down')), 200);
    await expect(p.ensureProvisioned(ac.signal)).rejects.toThrow('agent shutting down');
    await expect(stat(new IdentityStore(storage).credentialsPath)).rejects.toThrow(/ENOENT/);
  });

  it('gives up on a hub that never answers a request only by its request timeout, then retries', async () => {
    const { url, fake } = await hub(['hang']);
    const { p, logger } = provisioner(url);
    const ac = new AbortController();
    const run = p.ensureProvisioned(ac.signal);
    await waitFor('two attempts', () => fake.requests.length >= 2);
    ac.abort(new Error('enough'));
    await expect(run).rejects.toThrow('enough');
    expect(logger.lines.some((l) => /no answer from .* within 2000 ms/.test(l.message))).toBe(true);
  });

  it('refuses to start provisioning without a claim token, naming what is missing', async () => {
    const { url } = await hub([{ status: 200, body: credentials() }]);
    await expect(provisioner(url, { claimToken: null }).p.ensureProvisioned()).rejects.toThrow(
      ProvisioningImpossibleError,
    );
    await expect(provisioner(url, { claimToken: null }).p.ensureProvisioned()).rejects.toThrow(
      /no claimToken/,
    );
  });

  it('moves corrupt credentials aside and provisions again', async () => {
    const id = new IdentityStore(storage);
    await id.loadOrCreateKey();
    await writeFile(id.credentialsPath, '{"deviceId": 1}', { mode: 0o600 });
    const { url, fake } = await hub([{ status: 200, body: credentials('dev-0003') }]);
    const { p, logger } = provisioner(url);
    expect((await p.ensureProvisioned()).deviceId).toBe('dev-0003');
    expect(fake.requests).toHaveLength(1);
    expect(
      logger.lines.some(
        (l) => l.level === 'error' && /credentials .* are invalid .*moved to/.test(l.message),
      ),
    ).toBe(true);
  });

  it('talks TLS to the hub only with the pinned CA', async () => {
    const pki = await makeTestPki();
    try {
      const fake = new FakeHubProvisioning([{ status: 200, body: credentials('dev-tls') }]);
      const server = createHttpsServer(
        { cert: await readFile(pki.cert), key: await readFile(pki.key) },
        (req, res) => void fake.handler(req, res),
      );
      await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
      servers.push({ close: () => (server.closeAllConnections(), server.close()) });
      const url = `https://127.0.0.1:${(server.address() as AddressInfo).port}`;

      const wrong = provisioner(url, { caFile: pki.otherCa });
      const ac = new AbortController();
      const run = wrong.p.ensureProvisioned(ac.signal);
      await waitFor('certificate error', () =>
        wrong.logger.lines.some((l) => /certificate/i.test(l.message)),
      );
      ac.abort(new Error('stop'));
      await expect(run).rejects.toThrow('stop');
      expect(fake.requests).toHaveLength(0);

      expect((await provisioner(url, { caFile: pki.ca }).p.ensureProvisioned()).deviceId).toBe('dev-tls');
    } finally {
      await rm(pki.dir, { recursive: true, force: true });
    }
  });
});

describe('agent config file', () => {
  it('names the path when the file is missing', async () => {
    const path = join(storage, 'missing.json');
    await expect(loadAgentConfig(path)).rejects.toThrow(AgentConfigError);
    await expect(loadAgentConfig(path)).rejects.toThrow(`cannot read agent config ${path}`);
  });

  it('loads a real file with defaults applied', async () => {
    const path = join(storage, 'agent.json');
    await writeFile(
      path,
      JSON.stringify({ hubUrl: 'http://127.0.0.1:3000', board: 'qemu-aarch64', storageDir: storage }),
    );
    const c = await loadAgentConfig(path);
    expect(c.storageDir).toBe(storage);
    expect(c.intervals.logFlushMs).toBe(2_000);
  });
});

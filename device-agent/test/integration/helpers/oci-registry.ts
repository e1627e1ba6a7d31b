import { spawn, type ChildProcess } from 'node:child_process';
import { createPrivateKey, randomUUID, sign, X509Certificate, type KeyObject } from 'node:crypto';
import * as fs from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { createServer as createNetServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { httpGet } from '../../../src/oci/http-get.js';
import { run } from './oci-image.js';

/**
 * A real `docker-registry` (Debian's distribution 2.8) on 127.0.0.1 with filesystem storage in
 * a temp dir and token authentication, plus the token service it trusts: a small HTTP server
 * signing ES256 JWTs with a throw-away certificate (x5c header), the scheme registries use.
 * Anonymous callers get pull access to `public/*`; the test user gets pull+push everywhere.
 */

export const USER = { username: 'fleet', password: 'fleet-secret' };
const SERVICE = 'fleet-test-registry';
const ISSUER = 'fleet-test-token-issuer';

export async function freePort(): Promise<number> {
  const srv = createNetServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const port = (srv.address() as AddressInfo).port;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

const b64url = (b: Buffer | string): string => Buffer.from(b).toString('base64url');

function jwt(key: KeyObject, certDer: Buffer, claims: object): string {
  const head = b64url(JSON.stringify({ typ: 'JWT', alg: 'ES256', x5c: [certDer.toString('base64')] }));
  const body = b64url(JSON.stringify(claims));
  const sig = sign('sha256', Buffer.from(`${head}.${body}`), { key, dsaEncoding: 'ieee-p1363' });
  return `${head}.${body}.${b64url(sig)}`;
}

export interface TestRegistry {
  /** `127.0.0.1:<port>` */
  host: string;
  /** PEM of the registry's self-signed TLS certificate when started with `tls`. */
  caPem?: string;
  tokenRequests: { authorized: boolean; scope: string }[];
  stop(): Promise<void>;
}

export async function startRegistry(dir: string, opts: { tls?: boolean } = {}): Promise<TestRegistry> {
  await fs.mkdir(join(dir, 'storage'), { recursive: true });
  let caPem: string | undefined;
  if (opts.tls === true) {
    await run('openssl', [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-keyout',
      join(dir, 'tls-key.pem'),
      '-out',
      join(dir, 'tls-cert.pem'),
      '-days',
      '2',
      '-subj',
      '/CN=127.0.0.1',
      '-addext',
      'subjectAltName=IP:127.0.0.1',
    ]);
    caPem = await fs.readFile(join(dir, 'tls-cert.pem'), 'utf8');
  }
  await run('openssl', [
    'req',
    '-x509',
    '-newkey',
    'ec',
    '-pkeyopt',
    'ec_paramgen_curve:prime256v1',
    '-nodes',
    '-keyout',
    join(dir, 'key.pem'),
    '-out',
    join(dir, 'cert.pem'),
    '-days',
    '2',
    '-subj',
    '/CN=fleet-test-token-issuer',
  ]);
  const key = createPrivateKey(await fs.readFile(join(dir, 'key.pem')));
  const certDer = new X509Certificate(await fs.readFile(join(dir, 'cert.pem'))).raw;

  const tokenRequests: TestRegistry['tokenRequests'] = [];
  const tokenServer: Server = createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const auth = req.headers.authorization;
    let authorized = false;
    if (auth !== undefined) {
      const [user, pass] = Buffer.from(auth.replace(/^Basic /, ''), 'base64')
        .toString()
        .split(':');
      if (user !== USER.username || pass !== USER.password) {
        res.writeHead(401, { 'content-type': 'application/json' }).end('{"details":"bad credentials"}');
        return;
      }
      authorized = true;
    }
    const scopes = url.searchParams.getAll('scope');
    tokenRequests.push({ authorized, scope: scopes.join(' ') });
    const access = scopes.flatMap((s) => {
      const [type, name, actions] = s.split(':') as [string, string, string];
      const wanted = actions.split(',');
      const granted = authorized
        ? wanted
        : name.startsWith('public/')
          ? wanted.filter((a) => a === 'pull')
          : [];
      return [{ type, name, actions: granted }];
    });
    const now = Math.floor(Date.now() / 1000);
    const token = jwt(key, certDer, {
      iss: ISSUER,
      sub: authorized ? USER.username : '',
      aud: SERVICE,
      exp: now + 600,
      nbf: now - 10,
      iat: now,
      jti: randomUUID(),
      access,
    });
    res
      .writeHead(200, { 'content-type': 'application/json' })
      .end(JSON.stringify({ token, expires_in: 600 }));
  });
  await new Promise<void>((resolve) => tokenServer.listen(0, '127.0.0.1', resolve));
  const tokenPort = (tokenServer.address() as AddressInfo).port;

  const port = await freePort();
  const config = [
    'version: 0.1',
    'log:',
    '  level: warn',
    'storage:',
    '  filesystem:',
    `    rootdirectory: ${join(dir, 'storage')}`,
    '  delete:',
    '    enabled: true',
    'http:',
    `  addr: 127.0.0.1:${port}`,
    ...(opts.tls === true
      ? ['  tls:', `    certificate: ${join(dir, 'tls-cert.pem')}`, `    key: ${join(dir, 'tls-key.pem')}`]
      : []),
    'auth:',
    '  token:',
    `    realm: http://127.0.0.1:${tokenPort}/token`,
    `    service: ${SERVICE}`,
    `    issuer: ${ISSUER}`,
    `    rootcertbundle: ${join(dir, 'cert.pem')}`,
    '',
  ].join('\n');
  await fs.writeFile(join(dir, 'config.yml'), config);
  const child: ChildProcess = spawn('docker-registry', ['serve', join(dir, 'config.yml')], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  const host = `127.0.0.1:${port}`;
  const stop = async (): Promise<void> => {
    if (child.exitCode === null) {
      const exited = new Promise((resolve) => child.once('exit', resolve));
      child.kill('SIGTERM');
      await exited;
    }
    await new Promise<void>((resolve) => tokenServer.close(() => resolve()));
  };
  for (let i = 0; ; i++) {
    const ok = await httpGet(
      `${opts.tls === true ? 'https' : 'http'}://${host}/v2/`,
      caPem !== undefined ? { ca: caPem } : {},
    ).then(
      (r) => {
        r.body.resume();
        return r.status === 401 || r.status === 200;
      },
      () => false,
    );
    if (ok) break;
    if (child.exitCode !== null || i > 100) {
      await stop();
      throw new Error(`docker-registry did not start: ${stderr}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { host, tokenRequests, stop, ...(caPem !== undefined ? { caPem } : {}) };
}

/** skopeo push over plain HTTP with the test user's credentials (`--all` keeps an index whole). */
export async function push(src: string, dest: string, all = false): Promise<void> {
  await run('skopeo', [
    'copy',
    '--quiet',
    ...(all ? ['--all'] : []),
    '--dest-tls-verify=false',
    '--dest-creds',
    `${USER.username}:${USER.password}`,
    src,
    `docker://${dest}`,
  ]);
}

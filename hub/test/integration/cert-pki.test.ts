import { execFile } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { appendFile, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { CertificateAuthority, crlThisUpdate } from '../../src/pki/certificate-authority.js';
import { DeviceCertificates, type PkiLogger } from '../../src/pki/device-certificates.js';

// The hub PKI checked by an independent implementation: the openssl CLI parses and verifies
// what our DER encoder wrote (certificates, chain, CRL with revocation).
const run = promisify(execFile);

let work: string;
beforeAll(async () => {
  work = await mkdtemp(join(tmpdir(), 'fleet-cert-pki-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

const logger = (): PkiLogger & { lines: string[] } => {
  const lines: string[] = [];
  return { lines, log: (m) => lines.push(m), warn: (m) => lines.push(`warn ${m}`) };
};
const rawKey = () =>
  Buffer.from(
    generateKeyPairSync('ed25519').publicKey.export({ format: 'jwk' }).x ?? '',
    'base64url',
  ).toString('base64');
const crlPem = (text: string) => Buffer.from(text.replace(/-----[^-]+-----|\s/g, ''), 'base64');

async function verify(caFile: string, cert: string, crlFile?: string): Promise<string> {
  const certFile = join(work, `cert-${Math.random().toString(36).slice(2)}.pem`);
  await writeFile(certFile, cert);
  const args = [
    'verify',
    '-CAfile',
    caFile,
    ...(crlFile ? ['-crl_check', '-CRLfile', crlFile] : []),
    certFile,
  ];
  return run('openssl', args).then(
    (r) => r.stdout.trim(),
    (e: { stdout?: string; stderr?: string }) => `${e.stdout ?? ''}${e.stderr ?? ''}`.trim(),
  );
}

describe('hub PKI on disk, checked with openssl', () => {
  test('first start creates the CA (key 0600, dir 0700); certificates verify; revoked ones fail the CRL check', async () => {
    const dir = join(work, 'pki');
    const crlFile = join(work, 'crl.pem');
    const log = logger();
    const pki = await DeviceCertificates.open({ dir, crlFile, certDays: 30 }, log);
    expect((await stat(dir)).mode & 0o777).toBe(0o700);
    expect((await stat(join(dir, 'ca.key'))).mode & 0o777).toBe(0o600);
    expect(log.lines.some((l) => l.includes('created the hub CA'))).toBe(true);
    expect(log.lines.some((l) => l.includes('no HUB_BROKER_PID_FILE'))).toBe(true);

    const caText = await run('openssl', ['x509', '-in', join(dir, 'ca.crt'), '-noout', '-text']);
    expect(caText.stdout).toMatch(/ecdsa-with-SHA256/);
    expect(caText.stdout).toMatch(/CA:TRUE/);
    expect(caText.stdout).toMatch(/Certificate Sign, CRL Sign/);

    const a = await pki.issue('dev-a', rawKey());
    const b = await pki.issue('dev-b', rawKey());
    const aFile = join(work, 'a.pem');
    await writeFile(aFile, a.pem);
    const aText = (await run('openssl', ['x509', '-in', aFile, '-noout', '-text'])).stdout;
    expect(aText).toMatch(/Subject: CN ?= ?dev-a/);
    expect(aText).toMatch(/ED25519/);
    expect(aText).toMatch(/TLS Web Client Authentication/);
    expect(await verify(join(dir, 'ca.crt'), a.pem, crlFile)).toMatch(/OK$/);

    expect(await pki.revoke('dev-a')).toEqual([a.serial]);
    expect(await verify(join(dir, 'ca.crt'), a.pem, crlFile)).toMatch(/certificate revoked/);
    expect(await verify(join(dir, 'ca.crt'), b.pem, crlFile)).toMatch(/OK$/);
    const crlText = (await run('openssl', ['crl', '-in', crlFile, '-noout', '-text'])).stdout;
    expect(crlText).toContain(`Serial Number: ${a.serial}`);
    expect(crlText).toMatch(/X509v3 CRL Number/);
    expect(await pki.revoke('dev-a')).toEqual([]); // nothing left to revoke
  });

  test('a restart reuses the CA and the CRL keeps growing in time across instances', async () => {
    const dir = join(work, 'pki2');
    const crlFile = join(work, 'crl2.pem');
    const first = await DeviceCertificates.open({ dir, crlFile, certDays: 30 }, logger());
    const c = await first.issue('dev-c', rawKey());
    const t1 = crlThisUpdate(crlPem(await readFile(crlFile, 'utf8')));
    const second = await DeviceCertificates.open({ dir, crlFile, certDays: 30 }, logger());
    expect(second.ca.certificate.fingerprint256).toBe(first.ca.certificate.fingerprint256);
    const t2 = crlThisUpdate(crlPem(await readFile(crlFile, 'utf8')));
    expect(t2.getTime()).toBeGreaterThan(t1.getTime());
    // The second instance sees what the first issued (shared files), and revokes it.
    expect(await second.revoke('dev-c')).toEqual([c.serial]);
    expect(crlThisUpdate(crlPem(await readFile(crlFile, 'utf8'))).getTime()).toBeGreaterThan(t2.getTime());
    expect(crlThisUpdate(crlPem(await readFile(crlFile, 'utf8'))).getTime()).toBeLessThanOrEqual(Date.now());
  });

  test('a torn last line in issued.jsonl (crash mid-append) is skipped, the rest still counts', async () => {
    const dir = join(work, 'pki3');
    const pki = await DeviceCertificates.open(
      { dir, crlFile: join(work, 'crl3.pem'), certDays: 30 },
      logger(),
    );
    const d = await pki.issue('dev-d', rawKey());
    await appendFile(join(dir, 'issued.jsonl'), '{"serial":"AB","devi');
    expect(await pki.activeSerials('dev-d')).toEqual([d.serial]);
  });

  test('a CA given by configuration is used; half a configuration or a mismatched pair is refused', async () => {
    const { ca, keyPem } = CertificateAuthority.create({ commonName: 'configured' });
    const caCertFile = join(work, 'given.crt');
    const caKeyFile = join(work, 'given.key');
    await writeFile(caCertFile, ca.certificatePem);
    await writeFile(caKeyFile, keyPem);
    const pki = await DeviceCertificates.open(
      { dir: join(work, 'pki4'), crlFile: join(work, 'crl4.pem'), certDays: 1, caCertFile, caKeyFile },
      logger(),
    );
    expect(pki.ca.certificate.subject).toContain('CN=configured');
    expect(await verify(caCertFile, (await pki.issue('dev-e', rawKey())).pem)).toMatch(/OK$/);
    await expect(
      DeviceCertificates.open(
        { dir: join(work, 'pki5'), crlFile: join(work, 'crl5.pem'), certDays: 1, caCertFile },
        logger(),
      ),
    ).rejects.toThrow(/give both or neither/);
    await writeFile(caKeyFile, CertificateAuthority.create().keyPem);
    await expect(
      DeviceCertificates.open(
        { dir: join(work, 'pki6'), crlFile: join(work, 'crl6.pem'), certDays: 1, caCertFile, caKeyFile },
        logger(),
      ),
    ).rejects.toThrow(/does not match/);
  });

  test('a pid file that holds no pid is an error, not a silent skip', async () => {
    const pidFile = join(work, 'bad.pid');
    await writeFile(pidFile, 'nope\n');
    await expect(
      DeviceCertificates.open(
        { dir: join(work, 'pki7'), crlFile: join(work, 'crl7.pem'), certDays: 1, brokerPidFile: pidFile },
        logger(),
      ),
    ).rejects.toThrow(/holds no broker pid/);
  });
});

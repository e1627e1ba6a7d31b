import { createPublicKey, generateKeyPairSync, X509Certificate } from 'node:crypto';
import { describe, expect, test } from 'vitest';
import { CertificateAuthority, crlThisUpdate, ed25519PublicKey } from './certificate-authority.js';
import { integer, objectIdentifier, readTlv, time, unsignedInteger } from './der.js';

describe('DER', () => {
  test('integers are minimal and positive', () => {
    expect(integer(0).toString('hex')).toBe('020100');
    expect(integer(127).toString('hex')).toBe('02017f');
    expect(integer(128).toString('hex')).toBe('02020080');
    expect(unsignedInteger(Buffer.from([0, 0, 1])).toString('hex')).toBe('020101');
    expect(() => integer(-1)).toThrow(/non-negative/);
  });
  test('object identifiers and times', () => {
    expect(objectIdentifier('1.2.840.10045.4.3.2').toString('hex')).toBe('06082a8648ce3d040302');
    expect(objectIdentifier('2.5.29.20').toString('hex')).toBe('0603551d14');
    expect(() => objectIdentifier('1.x')).toThrow(/invalid OID/);
    expect(time(new Date('2026-11-30T14:00:05Z')).toString('latin1')).toBe('\x17\x0d261130140005Z');
    expect(time(new Date('2051-01-01T00:00:00Z')).toString('latin1')).toBe('\x18\x0f20510101000000Z');
  });
  test('long lengths round-trip through the reader; truncated input is refused', () => {
    const big = Buffer.concat([Buffer.from([0x04, 0x82, 0x01, 0x00]), Buffer.alloc(256)]);
    expect(readTlv(big, 0)).toMatchObject({ tag: 0x04, contentStart: 4, end: 260 });
    expect(() => readTlv(big.subarray(0, 100), 0)).toThrow(/truncated/);
  });
});

describe('CertificateAuthority', () => {
  const now = new Date('2026-11-30T12:00:00Z');
  const { ca, keyPem } = CertificateAuthority.create({ commonName: 'test CA', now });

  test('the CA certificate is a self-signed P-256 CA that node parses and verifies', () => {
    expect(ca.certificate.ca).toBe(true);
    expect(ca.certificate.subject).toBe('O=fleet\nCN=test CA');
    expect(ca.certificate.verify(ca.certificate.publicKey)).toBe(true);
    expect(ca.certificate.publicKey.asymmetricKeyDetails?.namedCurve).toBe('prime256v1');
    // Reloading from PEM gives the same CA.
    expect(CertificateAuthority.fromPem(ca.certificatePem, keyPem).certificate.fingerprint256).toBe(
      ca.certificate.fingerprint256,
    );
  });

  test('a device certificate: CN = device id, the device key, signed by the CA, clientAuth', () => {
    const device = generateKeyPairSync('ed25519');
    const raw = Buffer.from(device.publicKey.export({ format: 'jwk' }).x ?? '', 'base64url').toString(
      'base64',
    );
    const issued = ca.issueClientCertificate({
      commonName: 'dev-1',
      publicKey: ed25519PublicKey(raw),
      days: 30,
      now,
    });
    const cert = new X509Certificate(issued.pem);
    expect(cert.subject).toBe('CN=dev-1');
    expect(cert.issuer).toBe(ca.certificate.subject);
    expect(cert.ca).toBe(false);
    expect(cert.checkIssued(ca.certificate)).toBe(true);
    expect(cert.verify(ca.certificate.publicKey)).toBe(true);
    expect(cert.publicKey.export({ type: 'spki', format: 'der' })).toEqual(
      createPublicKey(device.privateKey).export({ type: 'spki', format: 'der' }),
    );
    expect(cert.keyUsage).toEqual(['1.3.6.1.5.5.7.3.2']);
    expect(cert.serialNumber).toBe(issued.serial);
    expect(new Date(cert.validTo).getTime() - new Date(cert.validFrom).getTime()).toBe(
      30 * 86_400_000 + 5 * 60_000,
    );
  });

  test('serials are unique and 16 bytes', () => {
    const key = generateKeyPairSync('ed25519').publicKey;
    const serials = new Set(
      Array.from(
        { length: 50 },
        () => ca.issueClientCertificate({ commonName: 'd', publicKey: key, days: 1, now }).serial,
      ),
    );
    expect(serials.size).toBe(50);
    for (const s of serials) expect(s).toMatch(/^[0-9A-F]{32}$/);
  });

  test('a server certificate names its hosts (DNS and IP)', () => {
    const key = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey;
    const cert = new X509Certificate(
      ca.issueServerCertificate({
        hosts: ['broker.example', '127.0.0.1', '::1'],
        publicKey: key,
        days: 1,
        now,
      }).pem,
    );
    expect(cert.subjectAltName).toBe('DNS:broker.example, IP Address:127.0.0.1, IP Address:0:0:0:0:0:0:0:1');
    expect(cert.checkHost('broker.example')).toBe('broker.example');
    expect(cert.checkIP('127.0.0.1')).toBe('127.0.0.1');
    expect(() => ca.issueServerCertificate({ hosts: [], publicKey: key, days: 1 })).toThrow(
      /at least one host/,
    );
  });

  test('a CRL carries its thisUpdate; bad serials and bad inputs are refused', () => {
    const pem = ca.crl({
      revoked: [{ serial: '4A01', revokedAt: now }],
      number: 7,
      thisUpdate: now,
      nextUpdate: new Date(now.getTime() + 86_400_000),
    });
    const der = Buffer.from(pem.replace(/-----[^-]+-----|\s/g, ''), 'base64');
    expect(crlThisUpdate(der)).toEqual(now);
    expect(() =>
      ca.crl({ revoked: [{ serial: 'xyz', revokedAt: now }], number: 1, thisUpdate: now, nextUpdate: now }),
    ).toThrow(/invalid serial/);
    expect(() =>
      ca.issueClientCertificate({
        commonName: 'x'.repeat(65),
        publicKey: generateKeyPairSync('ed25519').publicKey,
        days: 1,
      }),
    ).toThrow(/1..64/);
    expect(() => ed25519PublicKey(Buffer.alloc(31).toString('base64'))).toThrow(/32 bytes/);
  });

  test('a key that does not match the certificate, or a non-CA certificate, is refused', () => {
    const other = CertificateAuthority.create({ now });
    expect(() => CertificateAuthority.fromPem(ca.certificatePem, other.keyPem)).toThrow(/does not match/);
    const leaf = ca.issueClientCertificate({
      commonName: 'leaf',
      publicKey: generateKeyPairSync('ed25519').publicKey,
      days: 1,
      now,
    });
    expect(() => CertificateAuthority.fromPem(leaf.pem, keyPem)).toThrow(/not a CA/);
  });

  test('an ed25519 CA also issues verifiable certificates', () => {
    const ed = CertificateAuthority.create({ keyType: 'ed25519', now }).ca;
    const cert = new X509Certificate(
      ed.issueClientCertificate({
        commonName: 'd',
        publicKey: generateKeyPairSync('ed25519').publicKey,
        days: 1,
        now,
      }).pem,
    );
    expect(cert.verify(ed.certificate.publicKey)).toBe(true);
  });
});

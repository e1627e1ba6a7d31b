import {
  createHash,
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  randomBytes,
  randomUUID,
  sign,
  verify,
  X509Certificate,
  type KeyObject,
} from 'node:crypto';
import { isIP } from 'node:net';
import {
  bitString,
  boolean,
  children,
  explicit,
  implicitPrimitive,
  integer,
  nullValue,
  objectIdentifier,
  octetString,
  readTlv,
  sequence,
  set,
  time,
  unsignedInteger,
  utf8String,
} from './der.js';

const OID = {
  commonName: '2.5.4.3',
  organization: '2.5.4.10',
  ecdsaWithSha256: '1.2.840.10045.4.3.2',
  ed25519: '1.3.101.112',
  sha256WithRsa: '1.2.840.113549.1.1.11',
  basicConstraints: '2.5.29.19',
  keyUsage: '2.5.29.15',
  extKeyUsage: '2.5.29.37',
  subjectKeyIdentifier: '2.5.29.14',
  subjectAltName: '2.5.29.17',
  crlNumber: '2.5.29.20',
  clientAuth: '1.3.6.1.5.5.7.3.2',
  serverAuth: '1.3.6.1.5.5.7.3.1',
} as const;

/** A certificate as issued: PEM plus the serial (upper-case hex, as openssl prints it). */
export interface IssuedCertificate {
  pem: string;
  serial: string;
  notBefore: Date;
  notAfter: Date;
}

export interface RevokedEntry {
  serial: string;
  revokedAt: Date;
}

function pem(label: string, der: Buffer): string {
  const b64 = der.toString('base64').replace(/.{64}/g, '$&\n').replace(/\n$/, '');
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
}

function name(commonName: string, organization?: string): Buffer {
  const rdn = (oid: string, value: string) => set(sequence(objectIdentifier(oid), utf8String(value)));
  return sequence(
    ...(organization !== undefined ? [rdn(OID.organization, organization)] : []),
    rdn(OID.commonName, commonName),
  );
}

function extension(oid: string, critical: boolean, value: Buffer): Buffer {
  return sequence(objectIdentifier(oid), ...(critical ? [boolean(true)] : []), octetString(value));
}

/** RFC 5280 method 1: SHA-1 of the subjectPublicKey BIT STRING's bytes. */
function keyIdentifier(spki: Buffer): Buffer {
  const outer = readTlv(spki, 0);
  const [, key] = children(spki, outer);
  if (key === undefined) throw new Error('malformed SubjectPublicKeyInfo');
  return createHash('sha1')
    .update(spki.subarray(key.contentStart + 1, key.end))
    .digest();
}

/** 16 random bytes, positive and without a leading zero byte: always 16 bytes on the wire. */
function newSerial(): Buffer {
  const bytes = randomBytes(16);
  bytes[0] = ((bytes[0] ?? 0) & 0x7f) | 0x40;
  return bytes;
}

/** The raw subject Name of a certificate, so issued certificates name their issuer byte for byte. */
function subjectNameDer(certificateDer: Buffer): Buffer {
  const cert = readTlv(certificateDer, 0);
  const [tbs] = children(certificateDer, cert);
  if (tbs === undefined) throw new Error('malformed certificate');
  const fields = children(certificateDer, tbs);
  const offset = fields[0]?.tag === 0xa0 ? 1 : 0; // [0] version
  const subject = fields[offset + 4]; // serial, signature, issuer, validity, subject
  if (subject === undefined) throw new Error('malformed certificate');
  return certificateDer.subarray(subject.start, subject.end);
}

/**
 * The hub's certificate authority for device identities (decision 0052): issues client
 * certificates whose CN is the device id (Mosquitto's `use_identity_as_username`), server
 * certificates for the broker's TLS listener, and CRLs. Keys: ECDSA P-256 by default (what every
 * TLS stack verifies, Mosquitto 2.0.11's OpenSSL 3.0 included); an ed25519 or RSA CA given by
 * configuration also works. Device certificates carry whatever key the device has (the agent's
 * ed25519 identity key).
 */
export class CertificateAuthority {
  readonly certificate: X509Certificate;
  readonly #key: KeyObject;
  readonly #subject: Buffer;
  readonly #algorithm: { id: Buffer; digest: string | null };

  private constructor(certificatePem: string, key: KeyObject) {
    this.certificate = new X509Certificate(certificatePem);
    if (!this.certificate.ca)
      throw new Error('the CA certificate is not a CA (basicConstraints cA is not set)');
    if (!this.certificate.checkPrivateKey(key))
      throw new Error('the CA key does not match the CA certificate');
    this.#key = key;
    this.#subject = subjectNameDer(this.certificate.raw);
    this.#algorithm = CertificateAuthority.#algorithmFor(key);
  }

  get certificatePem(): string {
    return this.certificate.toString();
  }

  /** Loads a CA from PEM text (certificate and PKCS#8/SEC1/PKCS#1 key). */
  static fromPem(certificatePem: string, keyPem: string): CertificateAuthority {
    return new CertificateAuthority(certificatePem, createPrivateKey(keyPem));
  }

  /** A new self-signed CA (P-256 unless told otherwise), valid for `days`. */
  static create(opts: { commonName?: string; days?: number; keyType?: 'ec' | 'ed25519'; now?: Date } = {}): {
    ca: CertificateAuthority;
    keyPem: string;
  } {
    const { privateKey, publicKey } =
      opts.keyType === 'ed25519'
        ? generateKeyPairSync('ed25519')
        : generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const now = opts.now ?? new Date();
    const notBefore = new Date(now.getTime() - 5 * 60_000);
    const notAfter = new Date(now.getTime() + (opts.days ?? 20 * 365) * 86_400_000);
    // A unique name per CA: a CRL applies to the CA whose name it carries.
    const subject = name(opts.commonName ?? `fleet hub CA ${randomUUID().slice(0, 8)}`, 'fleet');
    const spki = publicKey.export({ type: 'spki', format: 'der' });
    const algorithm = CertificateAuthority.#algorithmFor(privateKey);
    const tbs = sequence(
      explicit(0, integer(2)),
      unsignedInteger(newSerial()),
      algorithm.id,
      subject,
      sequence(time(notBefore), time(notAfter)),
      subject,
      spki,
      explicit(
        3,
        sequence(
          extension(OID.basicConstraints, true, sequence(boolean(true))),
          // keyCertSign (bit 5) and cRLSign (bit 6): 0b0000_0110, one unused bit.
          extension(OID.keyUsage, true, bitString(Buffer.from([0x06]), 1)),
          extension(OID.subjectKeyIdentifier, false, octetString(keyIdentifier(spki))),
        ),
      ),
    );
    const der = sequence(tbs, algorithm.id, bitString(sign(algorithm.digest, tbs, privateKey)));
    const keyPem = privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
    return { ca: new CertificateAuthority(pem('CERTIFICATE', der), privateKey), keyPem };
  }

  static #algorithmFor(key: KeyObject): { id: Buffer; digest: string | null } {
    switch (key.asymmetricKeyType) {
      case 'ec':
        return { id: sequence(objectIdentifier(OID.ecdsaWithSha256)), digest: 'sha256' };
      case 'ed25519':
        return { id: sequence(objectIdentifier(OID.ed25519)), digest: null };
      case 'rsa':
        return { id: sequence(objectIdentifier(OID.sha256WithRsa), nullValue()), digest: 'sha256' };
      default:
        throw new Error(
          `unsupported CA key type ${String(key.asymmetricKeyType)}: use ECDSA (P-256), ed25519 or RSA`,
        );
    }
  }

  #issue(
    subject: Buffer,
    publicKey: KeyObject,
    days: number,
    extensions: Buffer[],
    now: Date,
  ): IssuedCertificate {
    const serial = newSerial();
    // Five minutes back: the broker checks validity against its own clock, which may lag ours.
    const notBefore = new Date(Math.floor(now.getTime() / 1000) * 1000 - 5 * 60_000);
    const caNotAfter = new Date(this.certificate.validTo);
    const wanted = new Date(notBefore.getTime() + 5 * 60_000 + days * 86_400_000);
    const notAfter = wanted > caNotAfter ? caNotAfter : wanted;
    const spki = publicKey.export({ type: 'spki', format: 'der' });
    const tbs = sequence(
      explicit(0, integer(2)),
      unsignedInteger(serial),
      this.#algorithm.id,
      this.#subject,
      sequence(time(notBefore), time(notAfter)),
      subject,
      spki,
      explicit(
        3,
        sequence(...extensions, extension(OID.subjectKeyIdentifier, false, octetString(keyIdentifier(spki)))),
      ),
    );
    const der = sequence(tbs, this.#algorithm.id, bitString(sign(this.#algorithm.digest, tbs, this.#key)));
    return {
      pem: pem('CERTIFICATE', der),
      serial: serial.toString('hex').toUpperCase(),
      notBefore,
      notAfter,
    };
  }

  /** A TLS client certificate with CN = `commonName` (the device id). */
  issueClientCertificate(opts: {
    commonName: string;
    publicKey: KeyObject;
    days: number;
    now?: Date;
  }): IssuedCertificate {
    if (opts.commonName.length === 0 || opts.commonName.length > 64)
      throw new Error('commonName must be 1..64 characters (X.520 ub-common-name)');
    return this.#issue(
      name(opts.commonName),
      opts.publicKey,
      opts.days,
      [
        extension(OID.basicConstraints, true, sequence()),
        // digitalSignature (bit 0): 0b1000_0000, seven unused bits.
        extension(OID.keyUsage, true, bitString(Buffer.from([0x80]), 7)),
        extension(OID.extKeyUsage, false, sequence(objectIdentifier(OID.clientAuth))),
      ],
      opts.now ?? new Date(),
    );
  }

  /** A TLS server certificate for the broker, with every host name / IP address as a SAN. */
  issueServerCertificate(opts: {
    hosts: string[];
    publicKey: KeyObject;
    days: number;
    now?: Date;
  }): IssuedCertificate {
    const [first] = opts.hosts;
    if (first === undefined) throw new Error('a server certificate needs at least one host');
    const sans = opts.hosts.map((h) =>
      isIP(h) ? implicitPrimitive(7, ipBytes(h)) : implicitPrimitive(2, Buffer.from(h, 'ascii')),
    );
    return this.#issue(
      name(first),
      opts.publicKey,
      opts.days,
      [
        extension(OID.basicConstraints, true, sequence()),
        // digitalSignature + keyEncipherment (RSA key exchange); harmless for EC keys.
        extension(OID.keyUsage, true, bitString(Buffer.from([0xa0]), 5)),
        extension(OID.extKeyUsage, false, sequence(objectIdentifier(OID.serverAuth))),
        extension(OID.subjectAltName, false, sequence(...sans)),
      ],
      opts.now ?? new Date(),
    );
  }

  /**
   * A v2 CRL listing `revoked`. `thisUpdate` must grow between CRLs: OpenSSL keeps every CRL it
   * ever loaded for an issuer and uses the one with the latest thisUpdate (Mosquitto's SIGHUP
   * reload adds the new file to the same store), so the caller passes a strictly later time.
   */
  crl(opts: {
    revoked: RevokedEntry[];
    number: bigint | number;
    thisUpdate: Date;
    nextUpdate: Date;
  }): string {
    const entries = opts.revoked.map((r) => {
      if (!/^[0-9A-F]+$/i.test(r.serial)) throw new Error(`invalid serial ${r.serial}`);
      return sequence(
        unsignedInteger(Buffer.from(r.serial.length % 2 ? `0${r.serial}` : r.serial, 'hex')),
        time(r.revokedAt),
      );
    });
    const tbs = sequence(
      integer(1), // v2
      this.#algorithm.id,
      this.#subject,
      time(opts.thisUpdate),
      time(opts.nextUpdate),
      ...(entries.length > 0 ? [sequence(...entries)] : []),
      explicit(0, sequence(extension(OID.crlNumber, false, integer(opts.number)))),
    );
    const der = sequence(tbs, this.#algorithm.id, bitString(sign(this.#algorithm.digest, tbs, this.#key)));
    return pem('X509 CRL', der);
  }
}

/** What a CRL says, once its signature and issuer are checked against the CA. */
export interface CrlContents {
  thisUpdate: Date;
  /** Revoked serials, upper-case hex without leading zeros (as `normalizeSerial`). */
  serials: Set<string>;
}

/** Serial spelling both sides agree on: upper-case hex without leading zeros. */
export function normalizeSerial(hex: string): string {
  return hex.toUpperCase().replace(/^0+(?=.)/, '');
}

/**
 * Reads a CRL (PEM or DER) issued by `ca`: checks that the issuer is the CA's subject and that the
 * CA's key signed it, and returns its thisUpdate and revoked serials. For a broker that applies
 * CRLs itself (the embedded one): a CRL it cannot verify must not change whom it admits.
 */
export function readCrl(crl: string | Buffer, ca: X509Certificate): CrlContents {
  const der = typeof crl === 'string' ? crlDer(crl) : crl;
  const outer = readTlv(der, 0);
  const [tbs, algorithm, signature] = children(der, outer);
  if (tbs === undefined || algorithm === undefined || signature?.tag !== 0x03)
    throw new Error('malformed CRL');
  const fields = children(der, tbs);
  const offset = fields[0]?.tag === 0x02 ? 1 : 0; // optional version
  const issuer = fields[offset + 1];
  if (issuer === undefined || !der.subarray(issuer.start, issuer.end).equals(subjectNameDer(ca.raw)))
    throw new Error('the CRL was not issued by the hub CA (issuer differs)');
  const algorithmDer = der.subarray(algorithm.start, algorithm.end);
  const digest = algorithmDer.equals(sequence(objectIdentifier(OID.ed25519)))
    ? null
    : algorithmDer.equals(sequence(objectIdentifier(OID.ecdsaWithSha256))) ||
        algorithmDer.equals(sequence(objectIdentifier(OID.sha256WithRsa), nullValue()))
      ? 'sha256'
      : undefined;
  if (digest === undefined) throw new Error('unsupported CRL signature algorithm');
  // BIT STRING: first content byte is the unused-bit count (0 for signatures).
  const sig = der.subarray(signature.contentStart + 1, signature.end);
  if (!verify(digest, der.subarray(tbs.start, tbs.end), ca.publicKey, sig))
    throw new Error('the CRL signature does not verify with the hub CA key');
  const serials = new Set<string>();
  // After thisUpdate: an optional nextUpdate (a time), then the optional revoked list (a SEQUENCE).
  for (const field of fields.slice(offset + 3)) {
    if (field.tag !== 0x30) continue;
    for (const entry of children(der, field)) {
      const [serial] = children(der, entry);
      if (serial?.tag !== 0x02) throw new Error('malformed CRL entry');
      serials.add(normalizeSerial(der.subarray(serial.contentStart, serial.end).toString('hex')));
    }
  }
  return { thisUpdate: crlThisUpdate(der), serials };
}

function crlDer(pemText: string): Buffer {
  const b64 = /-----BEGIN X509 CRL-----([^-]+)-----END X509 CRL-----/.exec(pemText)?.[1];
  if (b64 === undefined) throw new Error('not a PEM CRL');
  return Buffer.from(b64.replace(/\s+/g, ''), 'base64');
}

/** thisUpdate of a DER CRL (the hub publishes CRLs with strictly later times than the last). */
export function crlThisUpdate(der: Buffer): Date {
  const [tbs] = children(der, readTlv(der, 0));
  if (tbs === undefined) throw new Error('malformed CRL');
  const fields = children(der, tbs);
  const offset = fields[0]?.tag === 0x02 ? 1 : 0; // optional version
  const t = fields[offset + 2]; // signature, issuer, thisUpdate
  if (t === undefined || (t.tag !== 0x17 && t.tag !== 0x18)) throw new Error('malformed CRL');
  const text = der.subarray(t.contentStart, t.end).toString('ascii');
  const m = /^(\d{2}|\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/.exec(text);
  if (m === null) throw new Error(`unsupported CRL time ${text}`);
  const [, y = '', mo = '', d = '', h = '', mi = '', sec = ''] = m;
  const year = y.length === 2 ? (Number(y) < 50 ? 2000 + Number(y) : 1900 + Number(y)) : Number(y);
  return new Date(Date.UTC(year, Number(mo) - 1, Number(d), Number(h), Number(mi), Number(sec)));
}

function ipBytes(ip: string): Buffer {
  if (isIP(ip) === 4) return Buffer.from(ip.split('.').map(Number));
  // IPv6: expand "::" and pack 8 groups.
  const [head = '', tail] = ip.split('::');
  const h = head === '' ? [] : head.split(':');
  const t = tail === undefined || tail === '' ? [] : tail.split(':');
  const groups = [...h, ...Array<string>(8 - h.length - t.length).fill('0'), ...t];
  const out = Buffer.alloc(16);
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2));
  return out;
}

/** The device's raw ed25519 public key (ProvisionRequest.publicKey, base64) as a KeyObject. */
export function ed25519PublicKey(rawBase64: string): KeyObject {
  const raw = Buffer.from(rawBase64, 'base64');
  if (raw.length !== 32) throw new Error('an ed25519 public key is 32 bytes');
  return createPublicKey({
    key: { kty: 'OKP', crv: 'Ed25519', x: raw.toString('base64url') },
    format: 'jwk',
  });
}

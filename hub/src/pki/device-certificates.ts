import { randomBytes } from 'node:crypto';
import { appendFile, chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { isDeviceId } from '@fleet/protocol';
import {
  CertificateAuthority,
  crlThisUpdate,
  ed25519PublicKey,
  type IssuedCertificate,
  type RevokedEntry,
} from './certificate-authority.js';

export interface PkiLogger {
  log(message: string): void;
  warn(message: string): void;
}

export interface DeviceCertificatesOptions {
  /** Holds the CA (when not given), `issued/<device id>.jsonl`, `revoked.jsonl`; created 0700. */
  dir: string;
  /** A CA given by configuration (both or neither); else created in `dir` at first start. */
  caCertFile?: string;
  caKeyFile?: string;
  /** Where the broker reads its CRL (`crlfile`); written atomically, 0644. */
  crlFile: string;
  /** Mosquitto's `pid_file`: the hub sends SIGHUP after writing the CRL (same host only). */
  brokerPidFile?: string;
  /**
   * How the broker learns of a new CRL instead of the pid file: the embedded broker re-reads it
   * itself (it also watches the file).
   */
  reloadBroker?: () => Promise<void>;
  /** Device certificate lifetime. */
  certDays: number;
  /** CRL nextUpdate distance: a broker keeps using an expired CRL only if told not to check. */
  crlDays?: number;
}

/** How far back a CRL's thisUpdate is dated: tolerates a broker clock that lags the hub's. */
const CRL_BACKDATE_SECONDS = 300;

interface IssuedLine {
  serial: string;
  notAfter: string;
  issuedAt: string;
}
interface RevokedLine {
  serial: string;
  deviceId: string;
  revokedAt: string;
  notAfter: string;
}

async function writeAtomic(path: string, text: string, mode: number): Promise<void> {
  const tmp = `${path}.${randomBytes(4).toString('hex')}.tmp`;
  await writeFile(tmp, text, { mode });
  await chmod(tmp, mode);
  await rename(tmp, path);
}

async function readLines<T>(path: string): Promise<T[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  const out: T[] = [];
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    // A torn last line (crash mid-append) is skipped, never fatal: its certificate was not handed out.
    try {
      out.push(JSON.parse(line) as T);
    } catch {
      continue;
    }
  }
  return out;
}

/**
 * Device certificates for `HUB_DEVICE_IDENTITY=certificate`: issues them from the hub CA,
 * records every issuance (append-only `issued/<device id>.jsonl`: O(1) per device, unlike
 * dynsec's whole-file rewrite) and every revocation (`revoked.jsonl`), and publishes the CRL the
 * broker reads. Nothing is cached: replicas sharing `dir` see each other's work.
 */
export class DeviceCertificates {
  #lastThisUpdate = 0;

  private constructor(
    readonly ca: CertificateAuthority,
    private readonly opts: DeviceCertificatesOptions,
    private readonly logger: PkiLogger,
  ) {}

  get caCertificatePem(): string {
    return this.ca.certificatePem;
  }

  get crlFile(): string {
    return this.opts.crlFile;
  }

  /** The PKI directory (CA unless given, issuance and revocation logs). */
  get dir(): string {
    return this.opts.dir;
  }

  static async open(opts: DeviceCertificatesOptions, logger: PkiLogger): Promise<DeviceCertificates> {
    await mkdir(opts.dir, { recursive: true, mode: 0o700 });
    await chmod(opts.dir, 0o700);
    const ca = await DeviceCertificates.#loadOrCreateCa(opts, logger);
    const certs = new DeviceCertificates(ca, opts, logger);
    await certs.publishCrl();
    return certs;
  }

  static async #loadOrCreateCa(
    opts: DeviceCertificatesOptions,
    logger: PkiLogger,
  ): Promise<CertificateAuthority> {
    if ((opts.caCertFile === undefined) !== (opts.caKeyFile === undefined)) {
      throw new Error('HUB_CA_CERT_FILE and HUB_CA_KEY_FILE go together: give both or neither');
    }
    if (opts.caCertFile !== undefined && opts.caKeyFile !== undefined) {
      return CertificateAuthority.fromPem(
        await readFile(opts.caCertFile, 'utf8'),
        await readFile(opts.caKeyFile, 'utf8'),
      );
    }
    const certFile = join(opts.dir, 'ca.crt');
    const keyFile = join(opts.dir, 'ca.key');
    try {
      return CertificateAuthority.fromPem(await readFile(certFile, 'utf8'), await readFile(keyFile, 'utf8'));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT')
        throw new Error(`hub CA in ${opts.dir} is unreadable: ${(e as Error).message}`, { cause: e });
    }
    const { ca, keyPem } = CertificateAuthority.create();
    // Key first: a crash between the writes leaves a key without a certificate, and the next
    // start (certificate missing) makes a new pair instead of pairing a certificate with no key.
    await writeAtomic(keyFile, keyPem, 0o600);
    await writeAtomic(certFile, ca.certificatePem, 0o644);
    logger.log(`created the hub CA ${ca.certificate.subject.replace(/\n/g, ', ')} in ${opts.dir}`);
    return ca;
  }

  #issuedFile(deviceId: string): string {
    // Device ids are topic segments and file names alike: no '/', no '.', no wildcards.
    if (!isDeviceId(deviceId)) throw new RangeError(`not a device id: ${JSON.stringify(deviceId)}`);
    return join(this.opts.dir, 'issued', `${deviceId}.jsonl`);
  }

  /** Issues a client certificate (CN = device id) for the device's ed25519 key and records it. */
  async issue(deviceId: string, publicKeyBase64: string, now = new Date()): Promise<IssuedCertificate> {
    const file = this.#issuedFile(deviceId);
    const cert = this.ca.issueClientCertificate({
      commonName: deviceId,
      publicKey: ed25519PublicKey(publicKeyBase64),
      days: this.opts.certDays,
      now,
    });
    const line: IssuedLine = {
      serial: cert.serial,
      notAfter: cert.notAfter.toISOString(),
      issuedAt: now.toISOString(),
    };
    await mkdir(dirname(file), { recursive: true, mode: 0o700 });
    await appendFile(file, `${JSON.stringify(line)}\n`, { mode: 0o600 });
    return cert;
  }

  async #issued(deviceId: string): Promise<IssuedLine[]> {
    return readLines<IssuedLine>(this.#issuedFile(deviceId));
  }

  /** Serials issued to a device and not yet revoked. */
  async activeSerials(deviceId: string): Promise<string[]> {
    const issued = await this.#issued(deviceId);
    if (issued.length === 0) return [];
    const revoked = new Set(
      (await readLines<RevokedLine>(join(this.opts.dir, 'revoked.jsonl'))).map((r) => r.serial),
    );
    return issued.filter((i) => !revoked.has(i.serial)).map((i) => i.serial);
  }

  /**
   * Revokes every certificate of the device except `keep` (rotation keeps the new one), then
   * publishes the CRL and reloads the broker. Returns the revoked serials (none: nothing written).
   */
  async revoke(deviceId: string, opts: { keep?: string; now?: Date } = {}): Promise<string[]> {
    const active = new Set(await this.activeSerials(deviceId));
    const lines = (await this.#issued(deviceId)).filter(
      (i) => active.has(i.serial) && i.serial !== opts.keep,
    );
    if (lines.length === 0) return [];
    const revokedAt = (opts.now ?? new Date()).toISOString();
    const entries = lines.map(
      (i) =>
        `${JSON.stringify({ serial: i.serial, deviceId, revokedAt, notAfter: i.notAfter } satisfies RevokedLine)}\n`,
    );
    await appendFile(join(this.opts.dir, 'revoked.jsonl'), entries.join(''), { mode: 0o600 });
    await this.publishCrl(opts.now);
    return lines.map((i) => i.serial);
  }

  /** Writes the CRL (revoked and not yet expired certificates) and signals the broker. */
  async publishCrl(now = new Date()): Promise<void> {
    const revokedLines = await readLines<RevokedLine>(join(this.opts.dir, 'revoked.jsonl'));
    const revoked: RevokedEntry[] = revokedLines
      // An expired certificate is refused anyway: it leaves the CRL (RFC 5280 5.1.2.6).
      .filter((r) => new Date(r.notAfter) >= now)
      .map((r) => ({ serial: r.serial, revokedAt: new Date(r.revokedAt) }));
    // thisUpdate must grow strictly (the broker keeps every CRL it loaded and trusts the newest)
    // and must not be ahead of the broker's clock (a future CRL fails every handshake). So: five
    // minutes in the past, one second after the CRL on disk (another replica, an earlier run),
    // waiting when a burst of revocations has used up the margin.
    const nowSecond = Math.floor(now.getTime() / 1000);
    const second = Math.max(
      nowSecond - CRL_BACKDATE_SECONDS,
      (await this.#currentThisUpdate()) + 1,
      this.#lastThisUpdate + 1,
    );
    if (second > Math.floor(Date.now() / 1000))
      await new Promise((r) => setTimeout(r, second * 1000 - Date.now() + 5));
    this.#lastThisUpdate = second;
    const thisUpdate = new Date(second * 1000);
    const nextUpdate = new Date(thisUpdate.getTime() + (this.opts.crlDays ?? 3650) * 86_400_000);
    const pem = this.ca.crl({ revoked, number: second, thisUpdate, nextUpdate });
    await mkdir(dirname(this.opts.crlFile), { recursive: true });
    await writeAtomic(this.opts.crlFile, pem, 0o644);
    await this.#reloadBroker();
  }

  /** thisUpdate (unix seconds) of the CRL on disk; 0 when there is none. */
  async #currentThisUpdate(): Promise<number> {
    let text: string;
    try {
      text = await readFile(this.opts.crlFile, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return 0;
      throw e;
    }
    const b64 = /-----BEGIN X509 CRL-----([^-]+)-----END X509 CRL-----/.exec(text)?.[1];
    if (b64 === undefined) return 0;
    try {
      return Math.floor(crlThisUpdate(Buffer.from(b64.replace(/\s+/g, ''), 'base64')).getTime() / 1000);
    } catch {
      return 0; // not ours / unreadable: it is replaced
    }
  }

  async #reloadBroker(): Promise<void> {
    if (this.opts.reloadBroker !== undefined) return this.opts.reloadBroker();
    if (this.opts.brokerPidFile === undefined) {
      this.logger.warn(
        `CRL written to ${this.opts.crlFile}; no HUB_BROKER_PID_FILE: the broker must be reloaded (SIGHUP) to refuse revoked devices`,
      );
      return;
    }
    let text: string;
    try {
      text = await readFile(this.opts.brokerPidFile, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      // Not running: it reads the CRL when it starts.
      this.logger.warn(
        `no broker pid in ${this.opts.brokerPidFile}; the broker reads ${this.opts.crlFile} when it starts`,
      );
      return;
    }
    const pid = Number(text.trim());
    if (!Number.isInteger(pid) || pid <= 1) throw new Error(`${this.opts.brokerPidFile} holds no broker pid`);
    // Mosquitto 2.0.11 re-reads crlfile (and acl_file) on SIGHUP without dropping connections.
    process.kill(pid, 'SIGHUP');
  }
}

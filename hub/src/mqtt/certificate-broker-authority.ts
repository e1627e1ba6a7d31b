import { randomBytes } from 'node:crypto';
import type { BrokerAuthority } from '../devices/broker-authority.js';
import type { DeviceCertificates } from '../pki/device-certificates.js';
import type { DeviceCertificateIssuer } from '../provisioning/device-certificate-issuer.js';
import { DynsecError, type DynsecClient } from './dynsec-client.js';

/**
 * BrokerAuthority for certificate identities on Mosquitto (decision 0052). The broker learns
 * nothing per device: it trusts the hub CA, maps the certificate CN to the username and applies
 * the fixed `%u` acl_file. Revocation = the serials go on the CRL, the broker is reloaded
 * (SIGHUP), and the live session is cut through dynsec (a client with the device's username is
 * created and deleted: deleteClient kicks every session of that username, certificate ones too).
 */
export class CertificateBrokerAuthority implements BrokerAuthority, DeviceCertificateIssuer {
  constructor(
    readonly certificates: DeviceCertificates,
    private readonly dynsec: DynsecClient,
  ) {}

  /**
   * The password is only the device's HTTP (objects) credential in this mode; the TLS listener
   * ignores CONNECT's username/password, so the broker has nothing to change.
   */
  async upsertDevice(): Promise<void> {}

  async revokeDevice(deviceId: string): Promise<void> {
    await this.certificates.revoke(deviceId);
    await this.#kick(deviceId);
  }

  async issue(
    deviceId: string,
    publicKeyBase64: string,
  ): Promise<{ certificate: string; caCertificate: string; serial: string }> {
    const cert = await this.certificates.issue(deviceId, publicKeyBase64);
    const revoked = await this.certificates.revoke(deviceId, { keep: cert.serial });
    if (revoked.length > 0) await this.#kick(deviceId);
    return { certificate: cert.pem, caCertificate: this.certificates.caCertificatePem, serial: cert.serial };
  }

  /**
   * Also the barrier for the CRL reload: Mosquitto handles the SIGHUP flag in its main loop before
   * it reads our next `$CONTROL` command, so once this answers the new CRL is in force.
   */
  async #kick(deviceId: string): Promise<void> {
    await this.dynsec
      .run([{ command: 'createClient', username: deviceId, password: randomBytes(24).toString('base64url') }])
      .catch((e: unknown) => {
        if (!(e instanceof DynsecError && e.kind === 'already-exists')) throw e;
      });
    await this.dynsec.run([{ command: 'deleteClient', username: deviceId }]);
  }
}

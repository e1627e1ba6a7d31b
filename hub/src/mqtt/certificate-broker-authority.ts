import { randomBytes } from 'node:crypto';
import type { BrokerAuthority } from '../devices/broker-authority.js';
import type { DeviceCertificates } from '../pki/device-certificates.js';
import type { DeviceCertificateIssuer } from '../provisioning/device-certificate-issuer.js';
import { DynsecClient, DynsecError } from './dynsec-client.js';

/**
 * Makes a revocation take effect at the broker once the CRL file holds it: the new CRL in force
 * for handshakes and the device's live session on a revoked certificate closed. Resolves when both
 * hold (BrokerAuthority's contract).
 */
export interface RevocationEnforcer {
  enforce(deviceId: string): Promise<void>;
}

/**
 * Mosquitto (decision 0052): the hub has already sent SIGHUP (DeviceCertificates); the live
 * session is cut through dynsec (a client with the device's username is created and deleted:
 * deleteClient kicks every session of that username, certificate ones too). Also the barrier for
 * the CRL reload: Mosquitto handles the SIGHUP flag in its main loop before it reads our next
 * `$CONTROL` command, so once this answers the new CRL is in force.
 */
export function dynsecRevocationEnforcer(dynsec: DynsecClient): RevocationEnforcer {
  return {
    async enforce(deviceId) {
      await dynsec
        .run([
          { command: 'createClient', username: deviceId, password: randomBytes(24).toString('base64url') },
        ])
        .catch((e: unknown) => {
          if (!(e instanceof DynsecError && e.kind === 'already-exists')) throw e;
        });
      await dynsec.run([{ command: 'deleteClient', username: deviceId }]);
    },
  };
}

/**
 * BrokerAuthority for certificate identities (decisions 0052, 0053). The broker learns nothing
 * per device: it trusts the hub CA, takes the certificate CN as the username and applies fixed
 * `%u` rules. Revocation = the serials go on the CRL, then the enforcer makes the broker apply it
 * (Mosquitto: SIGHUP + dynsec kick; the embedded aedes: re-read the CRL, close the session).
 * Given a DynsecClient, the Mosquitto enforcer is used.
 */
export class CertificateBrokerAuthority implements BrokerAuthority, DeviceCertificateIssuer {
  readonly #enforcer: RevocationEnforcer;

  constructor(
    readonly certificates: DeviceCertificates,
    enforcer: RevocationEnforcer | DynsecClient,
  ) {
    this.#enforcer = enforcer instanceof DynsecClient ? dynsecRevocationEnforcer(enforcer) : enforcer;
  }

  /**
   * The password is only the device's HTTP (objects) credential in this mode; the TLS listener
   * ignores CONNECT's username/password, so the broker has nothing to change.
   */
  async upsertDevice(): Promise<void> {}

  async revokeDevice(deviceId: string): Promise<void> {
    await this.certificates.revoke(deviceId);
    await this.#enforcer.enforce(deviceId);
  }

  async issue(
    deviceId: string,
    publicKeyBase64: string,
  ): Promise<{ certificate: string; caCertificate: string; serial: string }> {
    const cert = await this.certificates.issue(deviceId, publicKeyBase64);
    const revoked = await this.certificates.revoke(deviceId, { keep: cert.serial });
    if (revoked.length > 0) await this.#enforcer.enforce(deviceId);
    return { certificate: cert.pem, caCertificate: this.certificates.caCertificatePem, serial: cert.serial };
  }
}

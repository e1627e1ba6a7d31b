/**
 * Issues device certificates in `HUB_DEVICE_IDENTITY=certificate` mode (implemented in
 * hub/src/mqtt/certificate-broker-authority.ts, provided under DEVICE_CERTIFICATE_ISSUER only in
 * that mode). Issuing for a device that already has certificates is a rotation: the older ones
 * are revoked (CRL) and a session using them is cut.
 */
export interface DeviceCertificateIssuer {
  issue(
    deviceId: string,
    publicKeyBase64: string,
  ): Promise<{ certificate: string; caCertificate: string; serial: string }>;
}

export const DEVICE_CERTIFICATE_ISSUER = Symbol.for('fleet.hub.DeviceCertificateIssuer');

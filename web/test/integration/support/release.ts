// A signed release in the hub, made the way hubctl does it: register the signing key, upload the
// objects the manifest references, post the signed manifest.
import { createHash, randomBytes } from 'node:crypto';
import { generateSigningKey, ReleaseManifest, signManifest } from '@fleet/protocol';
import { aContainer, aRelease } from '@fleet/protocol/testing';
import type { HubApi } from './seed.js';

export async function publishRelease(
  api: HubApi,
  hubUrl: string,
  version: string,
  sequence: number,
): Promise<void> {
  const key = generateSigningKey('e2e release key');
  await api.call('POST', '/api/v1/keys', { name: 'e2e release key', publicKey: key.trustRoot.publicKey });
  const rootfs = randomBytes(64 * 1024);
  const hex = createHash('sha256').update(rootfs).digest('hex');
  const res = await fetch(`${hubUrl}/api/v1/objects/sha256/${hex}`, {
    method: 'PUT',
    headers: { 'content-type': 'application/octet-stream', cookie: api.cookie },
    body: rootfs,
  });
  if (!res.ok) throw new Error(`object upload: ${res.status} ${await res.text()}`);
  const manifest = signManifest(
    ReleaseManifest.parse(
      aRelease({
        release: version,
        version,
        sequence,
        notes: 'end-to-end test release',
        compatibleBoards: ['qemu-aarch64', 'raspberrypi4-64'],
        containers: {
          web: aContainer({
            image: { ref: `example/web:${version}`, digest: `sha256:${'e'.repeat(64)}` },
            rootfs: { digest: `sha256:${hex}`, size: rootfs.length },
          }),
        },
      }),
    ),
    key,
  );
  await api.call('POST', '/api/v1/releases', manifest);
}

import { createHash, randomBytes } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { generateSigningKey, ReleaseManifest, signManifest } from '@fleet/protocol';
import { aContainer, aRelease } from '@fleet/protocol/testing';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestHub, type TestHub } from './support/hub-harness.js';

let hub: TestHub;
beforeAll(async () => {
  hub = await startTestHub({ maxObjectBytes: 256 * 1024 });
});
afterAll(async () => {
  await hub?.close();
});

const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');

function put(hex: string, body: Buffer, headers: Record<string, string> = hub.admin) {
  return hub.app.inject({
    method: 'PUT',
    url: `/api/v1/objects/sha256/${hex}`,
    headers: { ...headers, 'content-type': 'application/octet-stream' },
    payload: body,
  });
}

async function upload(size = 4096): Promise<{ digest: string; size: number; hex: string }> {
  const body = randomBytes(size);
  const hex = sha(body);
  expect((await put(hex, body)).statusCode).toBe(201);
  return { digest: `sha256:${hex}`, size, hex };
}

describe('objects', () => {
  it('stores an upload under its digest, answers HEAD, and serves ranges with ETag', async () => {
    const body = randomBytes(10_000);
    const hex = sha(body);
    expect(
      (await hub.app.inject({ method: 'HEAD', url: `/api/v1/objects/sha256/${hex}`, headers: hub.admin }))
        .statusCode,
    ).toBe(404);
    const r = await put(hex, body);
    expect(r.statusCode).toBe(201);
    expect(r.json()).toEqual({ digest: `sha256:${hex}`, size: 10_000, created: true });
    expect((await put(hex, body)).statusCode).toBe(200); // idempotent
    const head = await hub.app.inject({
      method: 'HEAD',
      url: `/api/v1/objects/sha256/${hex}`,
      headers: hub.admin,
    });
    expect(head.statusCode).toBe(200);
    expect(head.headers['content-length']).toBe('10000');
    expect(head.headers.etag).toBe(`"sha256:${hex}"`);
    const whole = await hub.app.inject({ url: `/api/v1/objects/sha256/${hex}`, headers: hub.admin });
    expect(whole.rawPayload.equals(body)).toBe(true);
    const part = await hub.app.inject({
      url: `/api/v1/objects/sha256/${hex}`,
      headers: { ...hub.admin, range: 'bytes=100-199' },
    });
    expect(part.statusCode).toBe(206);
    expect(part.headers['content-range']).toBe('bytes 100-199/10000');
    expect(part.rawPayload.equals(body.subarray(100, 200))).toBe(true);
    const tail = await hub.app.inject({
      url: `/api/v1/objects/sha256/${hex}`,
      headers: { ...hub.admin, range: 'bytes=9990-' },
    });
    expect(tail.rawPayload.equals(body.subarray(9990))).toBe(true);
    const suffix = await hub.app.inject({
      url: `/api/v1/objects/sha256/${hex}`,
      headers: { ...hub.admin, range: 'bytes=-5' },
    });
    expect(suffix.rawPayload.equals(body.subarray(9995))).toBe(true);
    expect(
      (
        await hub.app.inject({
          url: `/api/v1/objects/sha256/${hex}`,
          headers: { ...hub.admin, range: 'bytes=20000-' },
        })
      ).statusCode,
    ).toBe(416);
    expect(
      (
        await hub.app.inject({
          url: `/api/v1/objects/sha256/${hex}`,
          headers: { ...hub.admin, 'if-none-match': `"sha256:${hex}"` },
        })
      ).statusCode,
    ).toBe(304);
    // A stale If-Range validator gets the whole object, not a range of something else.
    const stale = await hub.app.inject({
      url: `/api/v1/objects/sha256/${hex}`,
      headers: { ...hub.admin, range: 'bytes=0-9', 'if-range': '"sha256:other"' },
    });
    expect(stale.statusCode).toBe(200);
  });

  it('refuses wrong digests, oversize uploads, bad digests in the URL and viewers, keeping nothing', async () => {
    const body = randomBytes(1000);
    const wrong = 'a'.repeat(64);
    const r = await put(wrong, body);
    expect(r.statusCode).toBe(422);
    expect(r.json().message).toContain(`sha256:${sha(body)}`);
    expect(
      (await hub.app.inject({ method: 'HEAD', url: `/api/v1/objects/sha256/${wrong}`, headers: hub.admin }))
        .statusCode,
    ).toBe(404);
    const big = randomBytes(300 * 1024);
    expect((await put(sha(big), big)).statusCode).toBe(413);
    expect(
      (
        await hub.app.inject({
          method: 'HEAD',
          url: `/api/v1/objects/sha256/${sha(big)}`,
          headers: hub.admin,
        })
      ).statusCode,
    ).toBe(404);
    // Without a Content-Length (chunked), the limit is enforced while streaming.
    const chunked = await hub.app.inject({
      method: 'PUT',
      url: `/api/v1/objects/sha256/${sha(big)}`,
      headers: { ...hub.admin, 'content-type': 'application/octet-stream' },
      payload: Readable.from([
        big.subarray(0, 100_000),
        big.subarray(100_000, 200_000),
        big.subarray(200_000),
      ]),
    });
    expect(chunked.statusCode).toBe(413);
    const badUrl = await put('XYZ', body);
    expect(badUrl.statusCode).toBe(400);
    expect(badUrl.json().issues[0].path).toBe('$');
    const viewer = await hub.userWithRole('viewer');
    expect((await put(sha(body), body, viewer)).statusCode).toBe(403);
    const { rows } = await hub.sql.query('SELECT count(*)::int AS n FROM objects');
    expect(rows[0].n).toBe(1); // only the first test's object
    expect(await readdir(join(hub.dir, 'objects', 'tmp'))).toEqual([]); // no temp file left behind
    expect(await readdir(join(hub.dir, 'objects', 'sha256'))).toHaveLength(1);
  });

  it('lets a provisioned device download with HTTP Basic, and no one else', async () => {
    const obj = await upload(2048);
    const fleet = (
      await hub.app.inject({
        method: 'POST',
        url: '/api/v1/fleets',
        headers: hub.admin,
        payload: { name: 'dl' },
      })
    ).json() as { id: string };
    const claim = (
      await hub.app.inject({
        method: 'POST',
        url: `/api/v1/fleets/${fleet.id}/claim-tokens`,
        headers: hub.admin,
        payload: { name: 'c' },
      })
    ).json() as { token: string };
    const pub = generateSigningKey().trustRoot.publicKey;
    const dev = (
      await hub.app.inject({
        method: 'POST',
        url: '/api/v1/provision',
        payload: {
          claimToken: claim.token,
          hardwareId: 'dl-1',
          publicKey: pub,
          board: 'qemu-aarch64',
          agentVersion: '1.0.0',
        },
      })
    ).json() as { mqtt: { username: string; password: string } };
    const basic = (u: string, p: string) => ({
      authorization: `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}`,
    });
    expect(
      (
        await hub.app.inject({
          url: `/api/v1/objects/sha256/${obj.hex}`,
          headers: basic(dev.mqtt.username, dev.mqtt.password),
        })
      ).statusCode,
    ).toBe(200);
    expect(
      (
        await hub.app.inject({
          url: `/api/v1/objects/sha256/${obj.hex}`,
          headers: basic(dev.mqtt.username, 'wrong'),
        })
      ).statusCode,
    ).toBe(401);
    expect((await hub.app.inject({ url: `/api/v1/objects/sha256/${obj.hex}` })).statusCode).toBe(401);
    // Devices can read objects, not upload them or read the device list.
    expect((await put(obj.hex, randomBytes(1), basic(dev.mqtt.username, dev.mqtt.password))).statusCode).toBe(
      401,
    );
    expect(
      (await hub.app.inject({ url: '/api/v1/devices', headers: basic(dev.mqtt.username, dev.mqtt.password) }))
        .statusCode,
    ).toBe(401);
  });
});

describe('releases', () => {
  const key = generateSigningKey('release key');

  function signed(over: Parameters<typeof aRelease>[0]) {
    return signManifest(ReleaseManifest.parse(aRelease(over)), key);
  }

  it('registers a signed release whose objects exist; immutable, listed, shown, yanked', async () => {
    const keyRes = await hub.app.inject({
      method: 'POST',
      url: '/api/v1/keys',
      headers: hub.admin,
      payload: { name: 'release key', publicKey: key.trustRoot.publicKey },
    });
    expect(keyRes.statusCode).toBe(201);
    expect(keyRes.json().keyId).toBe(key.keyId);
    const rootfs = await upload(8192);
    const manifest = signed({
      version: '1.0.0',
      sequence: 1,
      containers: { web: aContainer({ rootfs: { digest: rootfs.digest, size: rootfs.size } }) },
    });
    const created = await hub.app.inject({
      method: 'POST',
      url: '/api/v1/releases',
      headers: hub.admin,
      payload: manifest,
    });
    expect(created.statusCode).toBe(201);
    const rel = created.json() as {
      id: string;
      version: string;
      signedBy: string[];
      objects: Array<{ digest: string; role: string }>;
    };
    expect(rel).toMatchObject({
      version: '1.0.0',
      signedBy: [key.keyId],
      objects: [{ digest: rootfs.digest, role: 'containers.web.rootfs', size: 8192 }],
    });
    // The same manifest again: the same release (retries are safe).
    const again = await hub.app.inject({
      method: 'POST',
      url: '/api/v1/releases',
      headers: hub.admin,
      payload: manifest,
    });
    expect(again.statusCode).toBe(200);
    expect(again.json().id).toBe(rel.id);
    // Same version, other content: immutable.
    const changed = signed({
      version: '1.0.0',
      sequence: 2,
      notes: 'edited',
      containers: { web: aContainer({ rootfs: { digest: rootfs.digest, size: rootfs.size } }) },
    });
    expect(
      (
        await hub.app.inject({
          method: 'POST',
          url: '/api/v1/releases',
          headers: hub.admin,
          payload: changed,
        })
      ).statusCode,
    ).toBe(409);
    // A lower or equal sequence is refused.
    const older = signed({
      version: '0.9.0',
      sequence: 1,
      containers: { web: aContainer({ rootfs: { digest: rootfs.digest, size: rootfs.size } }) },
    });
    const olderRes = await hub.app.inject({
      method: 'POST',
      url: '/api/v1/releases',
      headers: hub.admin,
      payload: older,
    });
    expect(olderRes.statusCode).toBe(409);

    const shown = (await hub.app.inject({ url: '/api/v1/releases/1.0.0', headers: hub.admin })).json() as {
      id: string;
      manifest: unknown;
    };
    expect(shown.id).toBe(rel.id);
    expect(shown.manifest).toEqual(manifest);
    const yank = await hub.app.inject({
      method: 'POST',
      url: `/api/v1/releases/${rel.id}/yank`,
      headers: hub.admin,
      payload: { reason: 'bad build' },
    });
    expect(yank.json()).toMatchObject({ yankReason: 'bad build' });
    expect(
      ((await hub.app.inject({ url: '/api/v1/releases', headers: hub.admin })).json() as { items: unknown[] })
        .items,
    ).toEqual([]);
    expect(
      (
        (await hub.app.inject({ url: '/api/v1/releases?includeYanked=true', headers: hub.admin })).json() as {
          items: unknown[];
        }
      ).items,
    ).toHaveLength(1);
    const { rows } = await hub.sql.query(
      "SELECT action FROM audit_entries WHERE target_type IN ('release', 'signing-key') ORDER BY id",
    );
    expect(rows.map((r: { action: string }) => r.action)).toEqual([
      'key.create',
      'release.create',
      'release.yank',
    ]);
  });

  it('refuses invalid manifests, bad or unknown signatures and missing objects with field errors', async () => {
    const rootfs = await upload(1024);
    const web = aContainer({ rootfs: { digest: rootfs.digest, size: rootfs.size } });
    const invalid = await hub.app.inject({
      method: 'POST',
      url: '/api/v1/releases',
      headers: hub.admin,
      payload: {
        ...aRelease({ version: 'one' }),
        containers: { web: { ...web, restart: { policy: 'sometimes' } } },
      },
    });
    expect(invalid.statusCode).toBe(400);
    const paths = (invalid.json() as { issues: Array<{ path: string }> }).issues.map((i) => i.path);
    expect(paths).toEqual(expect.arrayContaining(['$.version', '$.containers.web.restart.policy']));

    const tampered = {
      ...signed({ version: '2.0.0', sequence: 10, containers: { web } }),
      notes: 'changed after signing',
    };
    const bad = await hub.app.inject({
      method: 'POST',
      url: '/api/v1/releases',
      headers: hub.admin,
      payload: tampered,
    });
    expect(bad.statusCode).toBe(422);
    expect(bad.json().reason).toBe('signature-invalid');

    const rawSigned = signManifest(aRelease({ version: '2.0.3', sequence: 13, containers: { web } }), key);
    const raw = await hub.app.inject({
      method: 'POST',
      url: '/api/v1/releases',
      headers: hub.admin,
      payload: rawSigned,
    });
    expect(raw.statusCode).toBe(422);
    expect(raw.json().message).toMatch(/sign the parsed manifest/);

    const stranger = signManifest(
      ReleaseManifest.parse(aRelease({ version: '2.0.1', sequence: 11, containers: { web } })),
      generateSigningKey(),
    );
    const unknown = await hub.app.inject({
      method: 'POST',
      url: '/api/v1/releases',
      headers: hub.admin,
      payload: stranger,
    });
    expect(unknown.statusCode).toBe(422);
    expect(unknown.json().reason).toBe('unknown-signing-key');

    const missing = signed({
      version: '2.0.2',
      sequence: 12,
      containers: {
        web: aContainer({ rootfs: { digest: `sha256:${'c'.repeat(64)}`, size: 5 } }),
        db: aContainer({ rootfs: { digest: rootfs.digest, size: 999 } }),
      },
    });
    const miss = await hub.app.inject({
      method: 'POST',
      url: '/api/v1/releases',
      headers: hub.admin,
      payload: missing,
    });
    expect(miss.statusCode).toBe(422);
    expect(
      miss
        .json()
        .issues.map((i: { path: string }) => i.path)
        .sort(),
    ).toEqual(['$.containers.db.rootfs.size', '$.containers.web.rootfs']);

    const operator = await hub.userWithRole('viewer');
    expect(
      (
        await hub.app.inject({
          method: 'POST',
          url: '/api/v1/releases',
          headers: operator,
          payload: signed({ version: '3.0.0', sequence: 20, containers: { web } }),
        })
      ).statusCode,
    ).toBe(403);
    const { rows } = await hub.sql.query(
      "SELECT count(*)::int AS n FROM releases WHERE version LIKE '2.%' OR version LIKE '3.%'",
    );
    expect(rows[0].n).toBe(0);
    expect((await hub.app.inject({ url: '/api/v1/releases/9.9.9', headers: hub.admin })).statusCode).toBe(
      404,
    );
  });
});

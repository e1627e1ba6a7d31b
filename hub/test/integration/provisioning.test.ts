import { generateKeyPairSync } from 'node:crypto';
import mqtt from './helpers/mqtt-client.js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestHub, type TestHub } from './support/hub-harness.js';

let hub: TestHub;
let fleetId: string;
beforeAll(async () => {
  hub = await startTestHub();
  fleetId = (
    (
      await hub.app.inject({
        method: 'POST',
        url: '/api/v1/fleets',
        headers: hub.admin,
        payload: { name: 'field' },
      })
    ).json() as { id: string }
  ).id;
});
afterAll(async () => {
  await hub?.close();
});

function devicePublicKey(): string {
  const der = generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'der' });
  return der.subarray(der.length - 32).toString('base64');
}

async function claimToken(body: Record<string, unknown> = {}): Promise<{ token: string; id: string }> {
  const r = await hub.app.inject({
    method: 'POST',
    url: `/api/v1/fleets/${fleetId}/claim-tokens`,
    headers: hub.admin,
    payload: { name: 'batch', ...body },
  });
  expect(r.statusCode).toBe(201);
  return r.json() as { token: string; id: string };
}

function provision(claimToken: string, hardwareId: string, publicKey: string) {
  return hub.app.inject({
    method: 'POST',
    url: '/api/v1/provision',
    payload: { claimToken, hardwareId, publicKey, board: 'qemu-aarch64', agentVersion: '0.1.0' },
  });
}

/** A real MQTT 3.1.1 connection to the embedded broker; resolves true on CONNACK, false on refusal. */
function canConnect(url: string, username: string, password: string, clientId: string): Promise<boolean> {
  return new Promise((resolve) => {
    const c = mqtt.connect(url, {
      username,
      password,
      clientId,
      protocolVersion: 4,
      reconnectPeriod: 0,
      connectTimeout: 5000,
    });
    let settled = false;
    const settle = (ok: boolean) => {
      if (settled) return;
      settled = true;
      c.end(true);
      resolve(ok);
    };
    c.once('connect', () => settle(true));
    c.once('error', () => settle(false));
    c.once('close', () => settle(false));
  });
}

describe('provisioning', () => {
  it('registers a device with a claim token and hands out broker credentials that work', async () => {
    const { token } = await claimToken({ tags: ['site=lab'] });
    const key = devicePublicKey();
    const r = await provision(token, 'hw-0001', key);
    expect(r.statusCode).toBe(200);
    const body = r.json() as {
      deviceId: string;
      fleetId: string;
      mqtt: { url: string; username: string; password: string; clientId: string };
      objectBaseUrl: string;
    };
    expect(body).toMatchObject({
      fleetId,
      mqtt: { clientId: body.deviceId, username: `device:${body.deviceId}` },
      objectBaseUrl: 'http://127.0.0.1:8080/api/v1/objects',
    });
    expect(body.mqtt.url).toMatch(/^mqtt:\/\/127\.0\.0\.1:\d+$/);
    expect(await canConnect(body.mqtt.url, body.mqtt.username, body.mqtt.password, body.deviceId)).toBe(true);
    expect(await canConnect(body.mqtt.url, body.mqtt.username, 'wrong', body.deviceId)).toBe(false);
    const device = (
      await hub.app.inject({ url: `/api/v1/devices/${body.deviceId}`, headers: hub.admin })
    ).json() as { tags: string[]; hardwareId: string; publicKey: string };
    expect(device).toMatchObject({ tags: ['site=lab'], hardwareId: 'hw-0001', publicKey: key });
    // Only the hash of the broker password is stored.
    const { rows } = await hub.sql.query('SELECT credentials_hash FROM devices WHERE id = $1', [
      body.deviceId,
    ]);
    expect(rows[0].credentials_hash).toMatch(/^[0-9a-f]{64}$/);

    // Same hardware id and key: the same device, new credentials, the old ones stop working.
    const again = (await provision(token, 'hw-0001', key)).json() as typeof body;
    expect(again.deviceId).toBe(body.deviceId);
    expect(await canConnect(body.mqtt.url, body.mqtt.username, body.mqtt.password, body.deviceId)).toBe(
      false,
    );
    expect(await canConnect(again.mqtt.url, again.mqtt.username, again.mqtt.password, again.deviceId)).toBe(
      true,
    );

    // Same hardware id, another key: refused.
    const clash = await provision(token, 'hw-0001', devicePublicKey());
    expect(clash.statusCode).toBe(409);
  });

  it('enforces max uses, expiry and revocation of claim tokens, and validates the request', async () => {
    const once = await claimToken({ maxUses: 1 });
    expect((await provision(once.token, 'hw-0100', devicePublicKey())).statusCode).toBe(200);
    const used = await provision(once.token, 'hw-0101', devicePublicKey());
    expect(used.statusCode).toBe(403);
    expect(used.json().message).toMatch(/no uses left/);

    const expiring = await claimToken({ expiresInHours: 1 });
    await hub.sql.query("UPDATE claim_tokens SET expires_at = now() - interval '1 minute' WHERE id = $1", [
      expiring.id,
    ]);
    const expired = await provision(expiring.token, 'hw-0102', devicePublicKey());
    expect(expired.statusCode).toBe(401);
    expect(expired.json().message).toMatch(/expired/);

    const revocable = await claimToken();
    expect(
      (
        await hub.app.inject({
          method: 'DELETE',
          url: `/api/v1/claim-tokens/${revocable.id}`,
          headers: hub.admin,
        })
      ).statusCode,
    ).toBe(200);
    expect((await provision(revocable.token, 'hw-0103', devicePublicKey())).json().message).toMatch(
      /revoked/,
    );
    expect(
      (await provision('fleetclaim_not-a-real-token-at-all', 'hw-0104', devicePublicKey())).statusCode,
    ).toBe(401);

    const bad = await hub.app.inject({
      method: 'POST',
      url: '/api/v1/provision',
      payload: {
        claimToken: 'short',
        hardwareId: '',
        publicKey: 'nope',
        board: 'Bad Board',
        agentVersion: 'x',
      },
    });
    expect(bad.statusCode).toBe(400);
    expect(
      bad
        .json()
        .issues.map((i: { path: string }) => i.path)
        .sort(),
    ).toEqual(['$.agentVersion', '$.board', '$.claimToken', '$.hardwareId', '$.publicKey']);
    // None of the refused attempts created a device.
    const { rows } = await hub.sql.query(
      "SELECT count(*)::int AS n FROM devices WHERE hardware_id LIKE 'hw-01%'",
    );
    expect(rows[0].n).toBe(1);
    const listed = (
      await hub.app.inject({ url: `/api/v1/fleets/${fleetId}/claim-tokens`, headers: hub.admin })
    ).json() as Array<{ id: string; uses: number }>;
    expect(listed.find((t) => t.id === once.id)?.uses).toBe(1);
  });

  it("rotates credentials on the device's own request and decommissions at the broker at once", async () => {
    const { token } = await claimToken();
    const first = (await provision(token, 'hw-0200', devicePublicKey())).json() as {
      deviceId: string;
      mqtt: { url: string; username: string; password: string };
    };
    const basic = (u: string, p: string) => ({
      authorization: `Basic ${Buffer.from(`${u}:${p}`).toString('base64')}`,
    });
    const rotated = await hub.app.inject({
      method: 'POST',
      url: `/api/v1/devices/${first.deviceId}/credentials`,
      headers: basic(first.mqtt.username, first.mqtt.password),
    });
    expect(rotated.statusCode).toBe(200);
    const creds = rotated.json() as { username: string; password: string };
    expect(await canConnect(first.mqtt.url, creds.username, first.mqtt.password, first.deviceId)).toBe(false);
    expect(await canConnect(first.mqtt.url, creds.username, creds.password, first.deviceId)).toBe(true);
    // A device cannot rotate another device's credentials, nor use the old password.
    const other = (await provision(token, 'hw-0201', devicePublicKey())).json() as { deviceId: string };
    expect(
      (
        await hub.app.inject({
          method: 'POST',
          url: `/api/v1/devices/${other.deviceId}/credentials`,
          headers: basic(creds.username, creds.password),
        })
      ).statusCode,
    ).toBe(403);
    expect(
      (
        await hub.app.inject({
          method: 'POST',
          url: `/api/v1/devices/${first.deviceId}/credentials`,
          headers: basic(first.mqtt.username, first.mqtt.password),
        })
      ).statusCode,
    ).toBe(401);

    // Decommission: a live session is cut, reconnecting is refused, the API forgets the device.
    const live = mqtt.connect(first.mqtt.url, {
      username: creds.username,
      password: creds.password,
      clientId: first.deviceId,
      protocolVersion: 4,
      reconnectPeriod: 0,
    });
    await new Promise((r) => live.once('connect', r));
    const closed = new Promise<void>((r) => live.once('close', () => r()));
    expect(
      (
        await hub.app.inject({
          method: 'DELETE',
          url: `/api/v1/devices/${first.deviceId}`,
          headers: hub.admin,
        })
      ).statusCode,
    ).toBe(204);
    await closed;
    live.end(true);
    expect(await canConnect(first.mqtt.url, creds.username, creds.password, first.deviceId)).toBe(false);
    expect(
      (
        await hub.app.inject({
          method: 'DELETE',
          url: `/api/v1/devices/${first.deviceId}`,
          headers: hub.admin,
        })
      ).statusCode,
    ).toBe(404);
    const list = (await hub.app.inject({ url: '/api/v1/devices?q=hw-0200', headers: hub.admin })).json() as {
      items: unknown[];
    };
    expect(list.items).toEqual([]);
    // The same board can be provisioned again as a new device.
    const reborn = (await provision(token, 'hw-0200', devicePublicKey())).json() as { deviceId: string };
    expect(reborn.deviceId).not.toBe(first.deviceId);
    const { rows } = await hub.sql.query(
      'SELECT action FROM audit_entries WHERE target_id = $1 ORDER BY id',
      [first.deviceId],
    );
    expect(rows.map((r: { action: string }) => r.action)).toEqual([
      'device.provision',
      'device.credentials.rotate',
      'device.decommission',
    ]);
  });
});

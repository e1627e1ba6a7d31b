import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestHub, type TestHub } from './support/hub-harness.js';

let hub: TestHub;
beforeAll(async () => {
  hub = await startTestHub();
});
afterAll(async () => {
  await hub?.close();
});

async function login(email: string, password: string) {
  return hub.app.inject({ method: 'POST', url: '/api/v1/auth/login', payload: { email, password } });
}

async function audit(action: string): Promise<
  Array<{
    actor: string;
    actorEmail: string | null;
    targetId: string | null;
    details: Record<string, unknown>;
  }>
> {
  const r = await hub.app.inject({ url: `/api/v1/audit?action=${action}`, headers: hub.admin });
  return (r.json() as { items: never[] }).items;
}

describe('auth', () => {
  it('bootstraps the first admin from the environment once, and logs in with an httpOnly session cookie', async () => {
    const r = await login('admin@example.com', 'admin-password-1');
    expect(r.statusCode).toBe(200);
    const setCookie = String(r.headers['set-cookie']);
    expect(setCookie).toMatch(/^fleet_session=[\w-]{20,}; HttpOnly; SameSite=Lax; Path=\/; Max-Age=\d+$/);
    const me = await hub.app.inject({
      url: '/api/v1/auth/me',
      headers: { cookie: setCookie.split(';')[0]! },
    });
    expect(me.json()).toMatchObject({ kind: 'user', email: 'admin@example.com', role: 'admin' });
    const { rows } = await hub.sql.query('SELECT token_hash FROM sessions');
    // Only a hash of the cookie is stored.
    expect(rows.map((x: { token_hash: string }) => x.token_hash)).not.toContain(
      setCookie.split(';')[0]!.split('=')[1],
    );
    expect((await audit('user.bootstrap-admin')).length).toBe(1);
  });

  it('refuses wrong passwords, unknown users and bad bodies, and ends the session at logout', async () => {
    expect((await login('admin@example.com', 'nope')).statusCode).toBe(401);
    expect((await login('ghost@example.com', 'admin-password-1')).statusCode).toBe(401);
    const bad = await hub.app.inject({
      method: 'POST',
      url: '/api/v1/auth/login',
      payload: { email: 'not-an-email' },
    });
    expect(bad.statusCode).toBe(400);
    expect(
      bad
        .json()
        .issues.map((i: { path: string }) => i.path)
        .sort(),
    ).toEqual(['$.email', '$.password']);
    const cookie = String((await login('admin@example.com', 'admin-password-1')).headers['set-cookie']).split(
      ';',
    )[0]!;
    expect(
      (await hub.app.inject({ method: 'POST', url: '/api/v1/auth/logout', headers: { cookie } })).statusCode,
    ).toBe(204);
    expect((await hub.app.inject({ url: '/api/v1/auth/me', headers: { cookie } })).statusCode).toBe(401);
  });

  it('enforces roles: viewers read, operators change fleets, only admins manage users', async () => {
    const viewer = await hub.userWithRole('viewer');
    const operator = await hub.userWithRole('operator');
    expect((await hub.app.inject({ url: '/api/v1/fleets', headers: viewer })).statusCode).toBe(200);
    const denied = await hub.app.inject({
      method: 'POST',
      url: '/api/v1/fleets',
      headers: viewer,
      payload: { name: 'lab' },
    });
    expect(denied.statusCode).toBe(403);
    expect(denied.json().message).toMatch(/needs role operator; you are viewer/);
    expect(
      (
        await hub.app.inject({
          method: 'POST',
          url: '/api/v1/fleets',
          headers: operator,
          payload: { name: 'lab' },
        })
      ).statusCode,
    ).toBe(201);
    expect((await hub.app.inject({ url: '/api/v1/users', headers: operator })).statusCode).toBe(403);
    expect((await hub.app.inject({ url: '/api/v1/audit', headers: operator })).statusCode).toBe(403);
    // An operator cannot mint an admin token.
    expect(
      (
        await hub.app.inject({
          method: 'POST',
          url: '/api/v1/tokens',
          headers: operator,
          payload: { name: 'x', role: 'admin' },
        })
      ).statusCode,
    ).toBe(403);
    const [entry] = await audit('fleet.create');
    expect(entry).toMatchObject({ actorEmail: 'operator2@example.com', details: { name: 'lab' } });
    expect(entry!.actor).toMatch(/^token:/);
  });

  it('API tokens: stored hashed, expire, can be revoked, and scoped tokens stay in their area', async () => {
    const scoped = await hub.app.inject({
      method: 'POST',
      url: '/api/v1/tokens',
      headers: hub.admin,
      payload: { name: 'ci', role: 'operator', scopes: ['releases'], expiresInDays: 1 },
    });
    expect(scoped.statusCode).toBe(201);
    const { token, id } = scoped.json() as { token: string; id: string };
    expect(token).toMatch(/^fleet_/);
    const { rows } = await hub.sql.query('SELECT token_hash FROM api_tokens WHERE id = $1', [id]);
    expect(rows[0].token_hash).not.toContain(token);
    const h = { authorization: `Bearer ${token}` };
    expect((await hub.app.inject({ url: '/api/v1/releases', headers: h })).statusCode).toBe(200);
    const out = await hub.app.inject({ url: '/api/v1/devices', headers: h });
    expect(out.statusCode).toBe(403);
    expect(out.json().message).toMatch(/limited to scopes releases/);

    await hub.sql.query("UPDATE api_tokens SET expires_at = now() - interval '1 second' WHERE id = $1", [id]);
    const expired = await hub.app.inject({ url: '/api/v1/releases', headers: h });
    expect(expired.statusCode).toBe(401);
    expect(expired.json().message).toMatch(/expired/);

    const other = (
      await hub.app.inject({
        method: 'POST',
        url: '/api/v1/tokens',
        headers: hub.admin,
        payload: { name: 'tmp' },
      })
    ).json() as { token: string; id: string };
    expect(
      (await hub.app.inject({ method: 'DELETE', url: `/api/v1/tokens/${other.id}`, headers: hub.admin }))
        .statusCode,
    ).toBe(204);
    const revoked = await hub.app.inject({
      url: '/api/v1/fleets',
      headers: { authorization: `Bearer ${other.token}` },
    });
    expect(revoked.statusCode).toBe(401);
    expect(revoked.json().message).toMatch(/revoked/);
    expect(
      (await hub.app.inject({ url: '/api/v1/fleets', headers: { authorization: 'Bearer fleet_made-up' } }))
        .statusCode,
    ).toBe(401);
    expect((await audit('token.revoke')).map((e) => e.targetId)).toContain(other.id);
  });

  it('users: admins create and disable them; the last admin cannot be demoted', async () => {
    const created = await hub.app.inject({
      method: 'POST',
      url: '/api/v1/users',
      headers: hub.admin,
      payload: { email: 'Someone@Example.com', password: 'long-enough-pw', role: 'viewer' },
    });
    expect(created.statusCode).toBe(201);
    const user = created.json() as { id: string; email: string };
    expect(user.email).toBe('someone@example.com');
    expect(JSON.stringify(created.json())).not.toContain('password');
    const dup = await hub.app.inject({
      method: 'POST',
      url: '/api/v1/users',
      headers: hub.admin,
      payload: { email: 'someone@example.com', password: 'long-enough-pw', role: 'viewer' },
    });
    expect(dup.statusCode).toBe(409);
    const short = await hub.app.inject({
      method: 'POST',
      url: '/api/v1/users',
      headers: hub.admin,
      payload: { email: 'x@example.com', password: 'short', role: 'boss' },
    });
    expect(
      short
        .json()
        .issues.map((i: { path: string }) => i.path)
        .sort(),
    ).toEqual(['$.password', '$.role']);

    expect((await login('someone@example.com', 'long-enough-pw')).statusCode).toBe(200);
    await hub.app.inject({
      method: 'PATCH',
      url: `/api/v1/users/${user.id}`,
      headers: hub.admin,
      payload: { disabled: true },
    });
    expect((await login('someone@example.com', 'long-enough-pw')).statusCode).toBe(401);

    const admins = (await hub.app.inject({ url: '/api/v1/users', headers: hub.admin })).json() as Array<{
      id: string;
      role: string;
      email: string;
    }>;
    const first = admins.find((u) => u.email === 'admin@example.com')!;
    const demote = await hub.app.inject({
      method: 'PATCH',
      url: `/api/v1/users/${first.id}`,
      headers: hub.admin,
      payload: { role: 'viewer' },
    });
    expect(demote.statusCode).toBe(409);
    expect(
      (
        await hub.app.inject({
          method: 'PATCH',
          url: '/api/v1/users/not-a-uuid',
          headers: hub.admin,
          payload: { role: 'viewer' },
        })
      ).statusCode,
    ).toBe(404);
  });
});

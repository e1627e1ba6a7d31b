import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openApiDocument } from '../../src/app.js';
import { readMigrations } from '../../src/database/migration-runner.js';
import { startTestHub, type TestHub } from './support/hub-harness.js';

let hub: TestHub;
let web: string;
beforeAll(async () => {
  web = await mkdtemp(join(tmpdir(), 'fleet-web-'));
  await mkdir(join(web, 'assets'));
  await writeFile(join(web, 'index.html'), '<!doctype html><title>fleet</title>');
  await writeFile(join(web, 'assets', 'app-1234.js'), 'console.log(1)');
  hub = await startTestHub({ bodyLimitBytes: 4096, webDir: web });
});
afterAll(async () => {
  await hub?.close();
  await rm(web, { recursive: true, force: true });
});

describe('hub app', () => {
  it('answers liveness, readiness (database migrated) and Prometheus metrics without auth', async () => {
    expect((await hub.app.inject({ url: '/healthz' })).json()).toEqual({ status: 'ok' });
    const ready = await hub.app.inject({ url: '/readyz' });
    expect(ready.statusCode).toBe(200);
    expect(ready.json()).toMatchObject({
      status: 'ready',
      database: 'ok',
      migrations: (await readMigrations()).length,
    });
    const metrics = await hub.app.inject({ url: '/metrics' });
    expect(metrics.headers['content-type']).toContain('text/plain');
    expect(metrics.body).toContain('# TYPE fleet_hub_http_requests_total counter');
    expect(metrics.body).toMatch(
      /fleet_hub_http_requests_total\{method="GET",route="\/readyz",status="200"\} 1/,
    );
  });

  it('serves the OpenAPI document with the main routes', async () => {
    const doc = (await hub.app.inject({ url: '/api/docs-json' })).json() as {
      openapi: string;
      paths: Record<string, unknown>;
    };
    expect(doc.openapi).toMatch(/^3\./);
    for (const p of [
      '/api/v1/provision',
      '/api/v1/devices',
      '/api/v1/releases',
      '/api/v1/objects/sha256/{hex}',
      '/api/v1/fleets/{fleet}/claim-tokens',
      '/api/v1/events',
    ]) {
      expect(Object.keys(doc.paths)).toContain(p);
    }
    // The committed hub/openapi.json (what hubctl and web build on) is this very document.
    const committed = JSON.parse(
      await readFile(new URL('../../openapi.json', import.meta.url), 'utf8'),
    ) as unknown;
    expect(committed, 'hub/openapi.json is stale: run `pnpm --filter @fleet/hub openapi`').toEqual(
      JSON.parse(JSON.stringify(openApiDocument(hub.app))),
    );
  });

  it('refuses unauthenticated API calls, oversize bodies and malformed JSON with 4xx', async () => {
    const anon = await hub.app.inject({ url: '/api/v1/devices' });
    expect(anon.statusCode).toBe(401);
    expect(anon.json().message).toMatch(/authentication required/);
    const big = await hub.app.inject({
      method: 'POST',
      url: '/api/v1/fleets',
      headers: { ...hub.admin, 'content-type': 'application/json' },
      payload: JSON.stringify({ name: 'x', description: 'y'.repeat(10_000) }),
    });
    expect(big.statusCode).toBe(413);
    const bad = await hub.app.inject({
      method: 'POST',
      url: '/api/v1/fleets',
      headers: { ...hub.admin, 'content-type': 'application/json' },
      payload: '{"name": ',
    });
    expect(bad.statusCode).toBe(400);
    const fields = await hub.app.inject({
      method: 'POST',
      url: '/api/v1/fleets',
      headers: hub.admin,
      payload: { name: 'Not Valid!', extra: 1 },
    });
    expect(fields.statusCode).toBe(400);
    const issues = (fields.json() as { issues: Array<{ path: string }> }).issues.map((i) => i.path);
    expect(issues).toEqual(expect.arrayContaining(['$.name', '$']));
    // Nothing was created by the refused requests.
    expect((await hub.app.inject({ url: '/api/v1/fleets', headers: hub.admin })).json()).toEqual([]);
  });

  it('serves the built dashboard with a single-page fallback, never shadowing the API', async () => {
    const index = await hub.app.inject({ url: '/' });
    expect(index.statusCode).toBe(200);
    expect(index.headers['content-type']).toContain('text/html');
    expect(index.body).toContain('<title>fleet</title>');
    const asset = await hub.app.inject({ url: '/assets/app-1234.js' });
    expect(asset.body).toBe('console.log(1)');
    expect(asset.headers['cache-control']).toContain('immutable');
    expect((await hub.app.inject({ url: '/devices/some-id' })).body).toContain('<title>fleet</title>');
    expect((await hub.app.inject({ url: '/../../etc/passwd' })).body).toContain('<title>fleet</title>');
    expect((await hub.app.inject({ url: '/api/v1/nothing-here', headers: hub.admin })).statusCode).toBe(404);
    expect((await hub.app.inject({ url: '/healthz' })).json()).toEqual({ status: 'ok' });
  });
});

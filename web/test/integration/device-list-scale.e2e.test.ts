// The device list with 10,000 real devices in a real hub: every keyset page is loaded by
// scrolling, the DOM keeps only the rows on screen, and a bulk tag over all of them goes through
// in chunks. Numbers (load time, long tasks while scrolling, DOM rows) are written to
// test-artifacts/web-device-list-10k.json; they are reported, never asserted.
import { rm } from 'node:fs/promises';
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser, screenshot } from './support/browser.js';
import { buildDashboard } from './support/dashboard-build.js';
import { startHub, type HubProcess } from './support/hub-process.js';
import { HubApi } from './support/seed.js';

const DEVICES = 10_000;
const ARTIFACTS = fileURLToPath(new URL('../../../test-artifacts/', import.meta.url));

let hub: HubProcess;
let dashboard: { url: string };
let webDir: string;
let browser: Browser;
let page: Page;
let fleetId: string;

beforeAll(async () => {
  webDir = await buildDashboard();
  hub = await startHub({ webDir });
  dashboard = { url: hub.url };
  const api = new HubApi(hub.url);
  await api.login(hub.adminEmail, hub.adminPassword);
  fleetId = (await api.call<{ id: string }>('POST', '/api/v1/fleets', { name: 'scale' })).id;
  // Provisioning 10,000 devices over HTTP takes minutes here; rows go straight into the hub's
  // own (migrated) table instead, as the hub's 100k list test does. What is under test is the
  // hub's list API and the dashboard, both unchanged by how the rows got there.
  hub.sql(
    `INSERT INTO devices (id, fleet_id, name, hardware_id, public_key, board, agent_version, tags, online, last_seen_at, current_release, credentials_hash)
     SELECT gen_random_uuid(), '${fleetId}'::uuid, 'node-' || lpad(i::text, 5, '0'), 'hw-scale-' || i, 'k', 'qemu-aarch64', '1.2.0',
       ARRAY['site=s' || (i % 7)], i % 3 <> 0, now() - (i || ' seconds')::interval, CASE WHEN i % 2 = 0 THEN '1.1.0' ELSE '1.0.0' END, ''
     FROM generate_series(0, ${DEVICES - 1}) AS i`,
  );
  hub.sql('ANALYZE devices');
  browser = await launchBrowser();
  page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
  await page.goto(`${dashboard.url}/login`);
  await page.getByLabel('E-mail').fill(hub.adminEmail);
  await page.getByLabel('Password').fill(hub.adminPassword);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.getByRole('heading', { name: 'Fleet overview' }).waitFor();
});

afterAll(async () => {
  await browser?.close();
  await hub?.stop();
  if (webDir) await rm(webDir, { recursive: true, force: true });
});

const domRows = (p: Page) => p.evaluate(() => document.querySelectorAll('.tbody-scroll [role=row]').length);

describe('device list at 10k devices', () => {
  it('pages through every device by scrolling while the DOM stays small', async () => {
    await page.evaluate(() => {
      const w = window as unknown as { longTasks: number[] };
      w.longTasks = [];
      new PerformanceObserver((list) =>
        list.getEntries().forEach((e) => w.longTasks.push(e.duration)),
      ).observe({ type: 'longtask', buffered: false });
    });
    const t0 = Date.now();
    await page.goto(`${dashboard.url}/devices?fleetId=${fleetId}`);
    await page.getByRole('link', { name: 'node-00000' }).waitFor();
    const firstPageMs = Date.now() - t0;
    await page.evaluate(() => {
      const w = window as unknown as { longTasks: number[] };
      w.longTasks = [];
      new PerformanceObserver((list) =>
        list.getEntries().forEach((e) => w.longTasks.push(e.duration)),
      ).observe({ type: 'longtask', buffered: false });
    });
    let maxRows = 0;
    const t1 = Date.now();
    // Scroll to the end again and again: each time the virtualizer nears the end it asks for the
    // next keyset page. Bounded: 200 rounds cover 50 pages with room to spare.
    for (let round = 0; round < 200; round++) {
      await page.evaluate(() => {
        const s = document.querySelector('.tbody-scroll')!;
        s.scrollTop = s.scrollHeight;
      });
      await page.waitForTimeout(100);
      maxRows = Math.max(maxRows, await domRows(page));
      if (await page.getByText(`${DEVICES} devices shown`, { exact: true }).isVisible()) break;
    }
    await page.getByText(`${DEVICES} devices shown`, { exact: true }).waitFor();
    const allPagesMs = Date.now() - t1;
    await page.evaluate(() => {
      const s = document.querySelector('.tbody-scroll')!;
      s.scrollTop = s.scrollHeight;
    });
    await page.getByRole('link', { name: `node-${String(DEVICES - 1).padStart(5, '0')}` }).waitFor();
    const longTasks = await page.evaluate(() => (window as unknown as { longTasks: number[] }).longTasks);
    await screenshot(page, '20-devices-10k-bottom');
    const result = {
      devices: DEVICES,
      firstPageMs,
      allPagesMs,
      pages: Math.ceil(DEVICES / 200),
      maxDomRows: maxRows,
      longTasksWhileScrolling: longTasks.length,
      longestTaskMs: longTasks.length ? Math.round(Math.max(...longTasks)) : 0,
    };
    mkdirSync(ARTIFACTS, { recursive: true });
    writeFileSync(`${ARTIFACTS}web-device-list-10k.json`, `${JSON.stringify(result, null, 2)}\n`);
    console.log('device list at 10k:', JSON.stringify(result));
    expect(maxRows).toBeGreaterThan(10);
    expect(maxRows).toBeLessThan(100);
  });

  it('bulk-tags all 10,000 loaded devices (in chunks of 1000) and filters by the new tag', async () => {
    await page.getByRole('checkbox', { name: 'Select all loaded devices' }).check();
    const bar = page.getByRole('region', { name: 'Bulk actions' });
    await bar.getByText(`${DEVICES} selected`).waitFor();
    await bar.getByLabel('Tag for the selected devices').fill('batch=scale');
    await bar.getByRole('button', { name: 'Add tag' }).click();
    await bar.getByText(`Tagged ${DEVICES} devices with batch=scale.`).waitFor({ timeout: 60_000 });
    await page.goto(`${dashboard.url}/devices?tag=batch%3Dscale&sort=-name`);
    await page.getByRole('link', { name: `node-${String(DEVICES - 1).padStart(5, '0')}` }).waitFor();
  });
});

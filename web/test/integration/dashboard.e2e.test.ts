// End to end: a real hub (its own process, fresh Postgres database, embedded MQTT broker),
// devices that provision and speak MQTT like agents, the built dashboard, and Debian's chromium.
// Screenshots of each page go to test-artifacts/screenshots/ (git-ignored).
import { rm } from 'node:fs/promises';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launchBrowser, screenshot } from './support/browser.js';
import { buildDashboard } from './support/dashboard-build.js';
import { startHub, type HubProcess } from './support/hub-process.js';
import { publishRelease } from './support/release.js';
import { actLikeAgents, HubApi, seedFleet, type Fleet } from './support/seed.js';

const TOTAL = 24;
const OFFLINE = 4;
const FAILED = 4;

let hub: HubProcess;
let dashboard: { url: string };
let webDir: string;
let fleet: Fleet;
let browser: Browser;
let page: Page;
let stopAgents: () => void = () => {};

beforeAll(async () => {
  webDir = await buildDashboard();
  hub = await startHub({ webDir });
  dashboard = { url: hub.url };
  const api = new HubApi(hub.url);
  await api.login(hub.adminEmail, hub.adminPassword);
  fleet = await seedFleet(api, TOTAL, OFFLINE, FAILED);
  await publishRelease(api, hub.url, '1.2.0', 3);
  // One device fails the health check, so the rollout shows a failure grouped by its reason.
  stopAgents = await actLikeAgents(fleet.devices, 1500, new Set([fleet.devices[5]!.id]));
  browser = await launchBrowser();
  page = await browser.newPage({ viewport: { width: 1280, height: 900 } });
});

afterAll(async () => {
  stopAgents();
  await browser?.close();
  await fleet?.close();
  await hub?.stop();
  if (webDir) await rm(webDir, { recursive: true, force: true });
});

describe('dashboard against a real hub', () => {
  it('sends a visitor to the login page and signs in', async () => {
    await page.goto(`${dashboard.url}/devices`);
    await page.getByRole('heading', { name: 'Sign in to fleet' }).waitFor();
    expect(new URL(page.url()).searchParams.get('next')).toBe('/devices');
    await screenshot(page, '01-login');
    await page.getByLabel('E-mail').fill(hub.adminEmail);
    await page.getByLabel('Password').fill('wrong-password');
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByText('Wrong e-mail or password.').waitFor();
    await page.getByLabel('Password').fill(hub.adminPassword);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.getByRole('heading', { name: 'Devices' }).waitFor();
    expect(new URL(page.url()).pathname).toBe('/devices');
  });

  it('shows the fleet overview with live counts', async () => {
    await page.getByRole('link', { name: 'Overview' }).click();
    const online = page.getByRole('link', { name: `${TOTAL - OFFLINE} online devices` });
    await online.waitFor();
    expect(await page.getByRole('link', { name: `${OFFLINE} offline devices` }).count()).toBe(1);
    await page
      .getByRole('region', { name: 'Recent failures by reason' })
      .getByText('Health check failed')
      .waitFor();
    await page.getByRole('status', { name: 'Live updates connected' }).waitFor();
    await screenshot(page, '02-overview');
    // A device disconnecting cleanly says so; the count moves without a reload.
    const leaving = fleet.devices[TOTAL - OFFLINE - 1]!;
    await leaving.publish('presence', { state: 'offline' });
    await page
      .getByRole('link', { name: `${TOTAL - OFFLINE - 1} online devices` })
      .waitFor({ timeout: 15_000 });
  });

  it('filters devices on the server and keeps the filters in the URL', async () => {
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'Devices' }).click();
    await page.getByRole('link', { name: 'e2e-dev-00' }).waitFor();
    await page.getByLabel('Status').selectOption('failed');
    await page.waitForURL(/status=failed/);
    await page.waitForFunction(() => document.querySelectorAll('.tbody-scroll [role=row]').length === 4);
    const names = await page.locator('.tbody-scroll [role=row] .col-name').allTextContents();
    expect(names.sort()).toEqual(fleet.failed.map((d) => d.name).sort());
    await screenshot(page, '03-devices-failed');
    await page.getByLabel('Status').selectOption('');
    await page.getByLabel('Search').fill('e2e-dev-1');
    await page.waitForURL(/q=e2e-dev-1/);
    await page.waitForFunction(() => document.querySelectorAll('.tbody-scroll [role=row]').length === 10);
    // A shared link opens the same view.
    await page.goto(`${dashboard.url}/devices?tag=site%3Dparis&sort=-name`);
    await page.waitForFunction(() => document.querySelectorAll('.tbody-scroll [role=row]').length === 12);
    expect(await page.locator('.tbody-scroll [role=row] .col-name').first().textContent()).toBe('e2e-dev-23');
    await screenshot(page, '04-devices-tag');
  });

  it('opens a device: containers, telemetry charts, update history and live logs', async () => {
    const d = fleet.failed[1]!;
    await page.goto(`${dashboard.url}/devices?q=${d.name}`);
    await page.getByRole('link', { name: d.name }).click();
    await page.getByRole('heading', { name: d.name, level: 1 }).waitFor();
    await page.getByRole('region', { name: 'Update history' }).getByText('Boot failed').waitFor();
    await page
      .getByRole('region', { name: 'Containers' })
      .getByText('crash-loop')
      .or(page.getByRole('region', { name: 'Containers' }).getByText('ready'))
      .first()
      .waitFor();
    await page
      .getByRole('figure', { name: /CPU/ })
      .getByText(/latest \d+%/)
      .waitFor();
    expect(await page.locator('.chart-canvas canvas').count()).toBeGreaterThanOrEqual(4);
    const log = page.getByRole('log', { name: 'Device logs' });
    await log.getByText(`${d.name} web: listening on :80`).waitFor();
    await page.getByRole('status', { name: 'Live updates connected' }).waitFor();
    // A line the device ships now arrives through the hub's event stream.
    await page.waitForTimeout(300);
    await d.publish('logs', {
      lines: [
        {
          time: new Date().toISOString(),
          source: 'web',
          stream: 'stdout',
          text: 'live line from the e2e test',
        },
      ],
    });
    await log.getByText('live line from the e2e test').waitFor({ timeout: 15_000 });
    await screenshot(page, '05-device');
  });

  it('sends a reboot command after confirmation', async () => {
    await page.getByRole('button', { name: 'Reboot device…' }).click();
    await page.getByRole('alertdialog').getByRole('button', { name: 'Reboot' }).click();
    await page.getByRole('region', { name: 'Commands' }).getByText('reboot').first().waitFor();
  });

  it('bulk-reboots the selected devices with one request to the bulk route', async () => {
    const posts: string[] = [];
    const record = (r: { method(): string; url(): string }) => {
      if (r.method() === 'POST' && /\/commands$/.test(r.url())) posts.push(new URL(r.url()).pathname);
    };
    page.on('request', record);
    try {
      await page.goto(`${dashboard.url}/devices?status=failed`);
      await page.waitForFunction(
        (n) => document.querySelectorAll('.tbody-scroll [role=row]').length === n,
        FAILED,
      );
      await page.getByRole('checkbox', { name: 'Select all loaded devices' }).check();
      await page
        .getByRole('region', { name: 'Bulk actions' })
        .getByRole('button', { name: 'Reboot…' })
        .click();
      await page
        .getByRole('alertdialog', { name: `Reboot ${FAILED} devices?` })
        .getByRole('button', { name: 'Reboot' })
        .click();
      await page.getByText(`Reboot sent to ${FAILED} devices.`).waitFor();
      expect(posts).toEqual(['/api/v1/devices/commands']);
    } finally {
      page.off('request', record);
    }
  });

  it('starts a rollout from the wizard after its dry run, watches it move live, and pauses it', async () => {
    await page.goto(`${dashboard.url}/releases`);
    await page.getByRole('link', { name: '1.2.0' }).click();
    await page.getByRole('heading', { name: 'Release 1.2.0' }).waitFor();
    await page.getByRole('region', { name: 'Signatures' }).getByText('trusted key').waitFor();
    await screenshot(page, '12-release');
    await page.getByRole('link', { name: 'Roll out…' }).click();
    await page.getByRole('heading', { name: 'New rollout' }).waitFor();
    await page.getByLabel('Fleet').selectOption({ label: `lab (${TOTAL} devices)` });
    await page.getByRole('checkbox', { name: `agent=reporting (${TOTAL - OFFLINE})` }).check();
    await page.getByRole('button', { name: 'Next' }).click();
    await page.getByLabel('Phases (device counts or cumulative percents)').fill('1,50%,100%');
    await page.getByLabel('Bake time per phase (minutes)').fill('0');
    await page.getByLabel('Auto-pause above failures (%)').fill('50');
    await page.getByRole('button', { name: 'Run dry run' }).click();
    const dry = page.getByRole('region', { name: 'Dry run: release 1.2.0' });
    await dry.waitFor();
    expect(await dry.getByRole('row').count()).toBe(TOTAL - OFFLINE + 1);
    await screenshot(page, '13-rollout-dry-run');
    await page.getByRole('button', { name: /^Start rollout to \d+ devices?$/ }).click();
    await page.waitForURL(/\/rollouts\/[0-9a-f-]{36}$/);
    const overall = page.getByRole('progressbar', { name: 'Overall progress' });
    await overall.waitFor();
    // The devices' progress reaches the page through the event stream, with no reload.
    await page.waitForFunction(
      () =>
        Number(document.querySelector('[aria-label="Overall progress"]')?.getAttribute('aria-valuenow')) >= 1,
      null,
      { timeout: 30_000 },
    );
    await screenshot(page, '14-rollout-progress');
    await page.getByRole('button', { name: 'Pause…' }).click();
    const dialog = page.getByRole('alertdialog', { name: 'Pause this rollout?' });
    await dialog.getByLabel(/^Reason/).fill('e2e: looking at the canary');
    await dialog.getByRole('button', { name: 'Pause' }).click();
    await page.getByRole('button', { name: 'Resume…' }).waitFor();
    await page.getByRole('status').filter({ hasText: 'e2e: looking at the canary' }).waitFor();
    await screenshot(page, '15-rollout-paused');
    await page.goto(`${dashboard.url}/`);
    await page
      .getByRole('region', { name: 'Active rollouts' })
      .getByRole('link', { name: 'Release 1.2.0' })
      .waitFor();
  });

  it('shows the remaining pages', async () => {
    for (const [path, heading, name] of [
      ['/releases', 'Releases', '06-releases'],
      ['/fleets', 'Fleets', '07-fleets'],
      ['/users', 'Users', '08-users'],
      ['/tokens', 'API tokens', '09-api-tokens'],
      ['/rollouts', 'Rollouts', '10-rollouts'],
    ] as const) {
      await page.goto(`${dashboard.url}${path}`);
      await page.getByRole('heading', { name: heading, level: 1 }).waitFor();
      await page.waitForLoadState('networkidle').catch(() => {});
      await screenshot(page, name);
    }
    await page.goto(`${dashboard.url}/fleets`);
    await page.getByRole('link', { name: `${TOTAL} devices` }).waitFor();
  });

  it('renders in the dark theme', async () => {
    await page.goto(`${dashboard.url}/`);
    await page.getByRole('button', { name: /Theme: system/ }).click();
    await page.getByRole('button', { name: /Theme: light/ }).click();
    expect(await page.evaluate(() => document.documentElement.dataset.theme)).toBe('dark');
    await page.getByRole('link', { name: /online devices/ }).waitFor();
    await screenshot(page, '11-overview-dark');
  });
});

// Set-based presence and report writes on real Postgres (decision 0035): many devices in one
// call, per-device order conditions in SQL (stale envelope time ignored, also when two
// "replicas" write at once), container history and events as one by one, bad input refused
// with a clear error and without losing the rest of the batch.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DeviceRepository } from '../../src/devices/device.repository.js';
import { DevicesService } from '../../src/devices/device.service.js';
import { EventBus, type HubEvent } from '../../src/events/event-bus.js';
import { aReport, digest } from './helpers/reports.js';
import { startTestHub, type TestHub } from './support/hub-harness.js';

let hub: TestHub;
let devices: DevicesService;
let repo: DeviceRepository;
let fleetId: string;
const events: HubEvent[] = [];
beforeAll(async () => {
  hub = await startTestHub();
  devices = hub.app.get(DevicesService);
  repo = hub.app.get(DeviceRepository);
  fleetId = randomUUID();
  await hub.sql.query(`INSERT INTO fleets (id, name) VALUES ($1, 'state-batch')`, [fleetId]);
  hub.app.get(EventBus).events.subscribe((e) => events.push(e));
});
afterAll(async () => {
  await hub?.close();
});

/** `n` devices inserted directly (provisioning is not what is tested here). */
async function someDevices(n: number): Promise<string[]> {
  const ids = Array.from({ length: n }, () => randomUUID());
  await hub.sql.query(
    `INSERT INTO devices (id, fleet_id, name, hardware_id, public_key, board, agent_version, tags, credentials_hash)
     SELECT id, $1, 'd-' || id, 'hw-' || id, 'none', 'qemu-aarch64', '0.1.0', '{}', '' FROM unnest($2::uuid[]) AS x(id)`,
    [fleetId, ids],
  );
  return ids;
}

const T = Math.ceil(Date.now() / 1000) * 1000 + 60_000;
const at = (seconds: number) => new Date(T + seconds * 1000);

async function rows(ids: string[]) {
  const r = await hub.sql.query<{
    id: string;
    current_release: string | null;
    online: boolean;
    last_seen_at: Date;
    report_sent_at: Date | null;
    failed_revisions: string[];
    boot_id: string | null;
  }>(
    `SELECT id::text, current_release, online, last_seen_at, report_sent_at, failed_revisions, boot_id
     FROM devices WHERE id = ANY($1::uuid[])`,
    [ids],
  );
  return new Map(r.rows.map((x) => [x.id, x]));
}

async function history(id: string): Promise<string[]> {
  const r = await hub.sql.query<{
    name: string;
    from_state: string | null;
    to_state: string;
    restart_count: number;
  }>(
    `SELECT name, from_state, to_state, restart_count FROM device_container_events WHERE device_id = $1 ORDER BY id`,
    [id],
  );
  return r.rows.map((e) => `${e.name}:${e.from_state}->${e.to_state}/${e.restart_count}`);
}

describe('recordReports', () => {
  it('stores many devices’ reports at once: rows, containers, history and one event each', async () => {
    const ids = await someDevices(3);
    events.length = 0;
    const known = await devices.recordReports(
      ids.map((deviceId, k) => ({
        deviceId,
        report: aReport(`1.0.${k}`, {
          failedRevisions: k === 1 ? [digest('f')] : [],
          containers: [
            { name: 'web', state: 'running', restarts: k },
            { name: 'db', state: 'exited', restarts: 0, exitCode: 1, message: 'oom' },
          ],
        }),
        at: at(1),
        sentAt: at(1),
      })),
    );
    expect(known).toEqual([true, true, true]);
    const stored = await rows(ids);
    expect(ids.map((id) => stored.get(id)?.current_release)).toEqual(['1.0.0', '1.0.1', '1.0.2']);
    expect(stored.get(ids[1]!)?.failed_revisions).toEqual([digest('f')]);
    expect(await history(ids[2]!)).toEqual(['web:null->running/2', 'db:null->exited/0']);
    const reportEvents = events.filter((e) => e.type === 'device.report');
    expect(reportEvents.map((e) => e.deviceId)).toEqual(ids);
    expect(reportEvents[0]!.data.changed).toEqual([
      { name: 'web', from: null, to: 'running' },
      { name: 'db', from: null, to: 'exited' },
    ]);

    // The next batch: one container restarted, one gone, one unchanged device.
    await devices.recordReports([
      {
        deviceId: ids[0]!,
        report: aReport('1.0.0', { containers: [{ name: 'web', state: 'running', restarts: 1 }] }),
        at: at(2),
        sentAt: at(2),
      },
      {
        deviceId: ids[1]!,
        report: aReport('1.0.1', {
          containers: [
            { name: 'web', state: 'running', restarts: 1 },
            { name: 'db', state: 'exited', restarts: 0 },
          ],
        }),
        at: at(2),
        sentAt: at(2),
      },
    ]);
    expect(await history(ids[0]!)).toEqual([
      'web:null->running/0',
      'db:null->exited/0',
      'web:running->running/1',
      'db:exited->removed/0',
    ]);
    expect(await history(ids[1]!)).toEqual(['web:null->running/1', 'db:null->exited/0']);
    const containers = await hub.sql.query(`SELECT name FROM device_containers WHERE device_id = $1`, [
      ids[0],
    ]);
    expect(containers.rows).toEqual([{ name: 'web' }]);
  });

  it('skips, per device, a report older than the one stored (only last seen moves); the rest of the batch applies', async () => {
    const [a, b] = (await someDevices(2)) as [string, string];
    await devices.recordReport(a, aReport('2.0.0'), at(10), at(10));
    const stale = await metric('fleet_hub_stale_device_messages_total', 'kind="report"');
    events.length = 0;
    const known = await devices.recordReports([
      { deviceId: a, report: aReport('1.0.0', { containers: [] }), at: at(12), sentAt: at(9) },
      { deviceId: b, report: aReport('1.0.0'), at: at(12), sentAt: at(9) },
    ]);
    expect(known).toEqual([true, true]);
    const stored = await rows([a, b]);
    expect(stored.get(a)).toMatchObject({
      current_release: '2.0.0',
      last_seen_at: at(12),
      report_sent_at: at(10),
    });
    expect(stored.get(b)).toMatchObject({ current_release: '1.0.0', report_sent_at: at(9) });
    expect(await history(a)).toEqual(['web:null->running/0']); // no "removed" from the stale one
    expect(events.filter((e) => e.type === 'device.report').map((e) => e.deviceId)).toEqual([b]);
    expect(await metric('fleet_hub_stale_device_messages_total', 'kind="report"')).toBe(stale + 1);
  });

  it('two replicas writing overlapping batches at once: each device ends with its newest report', async () => {
    const ids = await someDevices(40);
    // Replica 1 has the newer report of even devices, replica 2 of odd ones; both write all.
    const batch = (replica: number) =>
      ids.map((deviceId, k) => {
        const newer = k % 2 === replica - 1;
        return {
          deviceId,
          report: aReport(newer ? '2.0.0' : '1.0.0'),
          at: at(30),
          sentAt: at(newer ? 21 : 20),
        };
      });
    for (let round = 0; round < 3; round++) {
      await Promise.all([devices.recordReports(batch(1)), devices.recordReports([...batch(2)].reverse())]);
    }
    const stored = await rows(ids);
    expect(ids.filter((id) => stored.get(id)?.current_release !== '2.0.0')).toEqual([]);
  });

  it('an unknown or decommissioned device, or one whose id is not a UUID, is reported false; the others apply', async () => {
    const [a, gone] = (await someDevices(2)) as [string, string];
    await hub.sql.query(`UPDATE devices SET decommissioned_at = now() WHERE id = $1`, [gone]);
    const known = await devices.recordReports([
      { deviceId: randomUUID(), report: aReport('1.0.0'), at: at(40) },
      { deviceId: gone, report: aReport('1.0.0'), at: at(40) },
      { deviceId: 'not-a-uuid', report: aReport('1.0.0'), at: at(40) },
      { deviceId: a, report: aReport('1.0.0'), at: at(40) },
    ]);
    expect(known).toEqual([false, false, false, true]);
    expect((await rows([gone])).get(gone)?.current_release).toBeNull();
  });

  it('a report the database cannot hold (a NUL character) is refused with its reason; the rest of the batch is stored', async () => {
    const [a, b] = (await someDevices(2)) as [string, string];
    const refused = await metric('fleet_hub_refused_device_messages_total', 'kind="report"');
    const known = await devices.recordReports([
      {
        deviceId: a,
        report: aReport('1.0.0', {
          containers: [{ name: 'web', state: 'exited', restarts: 0, message: 'bad\u0000' }],
        }),
        at: at(50),
      },
      { deviceId: b, report: aReport('1.0.0'), at: at(50) },
    ]);
    expect(known).toEqual([false, true]);
    expect((await rows([a])).get(a)?.current_release).toBeNull();
    expect((await rows([b])).get(b)?.current_release).toBe('1.0.0');
    expect(await metric('fleet_hub_refused_device_messages_total', 'kind="report"')).toBe(refused + 1);
  });

  it('the repository refuses a batch it cannot write, naming the item and why, and writes nothing', async () => {
    const [a, b] = (await someDevices(2)) as [string, string];
    const item = (id: string, version = '1.0.0') => ({
      id,
      report: aReport(version),
      at: at(60),
      sentAt: at(60),
    });
    await expect(repo.recordReports([item(a), item(b), item(a, '2.0.0')])).rejects.toThrow(
      `recordReports: device ${a} appears twice in one batch`,
    );
    await expect(repo.recordReports([item(a), item('nope')])).rejects.toThrow(
      'recordReports: item 1 (device nope): the device id is not a UUID',
    );
    await expect(
      repo.recordReports([item(a), { ...item(b), report: aReport('1.0.0', { board: 'x\u0000' }) }]),
    ).rejects.toThrow(`recordReports: item 1 (device ${b}): a text field contains a NUL character`);
    await expect(
      repo.recordPresences([
        { id: a, presence: { state: 'online', bootId: '\u0000' }, seenAt: at(60), orderAt: at(60) },
      ]),
    ).rejects.toThrow(`recordPresences: item 0 (device ${a}): a text field contains a NUL character`);
    const stored = await rows([a, b]);
    expect([stored.get(a)?.current_release, stored.get(b)?.current_release]).toEqual([null, null]);
  });
});

describe('recordPresences', () => {
  it('applies many devices’ presence at once; a live one received before the stored one is skipped; retained always applies', async () => {
    const [a, b, c] = (await someDevices(3)) as [string, string, string];
    await devices.recordPresence(a, { state: 'offline' }, at(5));
    await devices.recordReport(c, aReport('1.0.0'), at(4), at(4));
    events.length = 0;
    const known = await devices.recordPresences([
      // Received before a's stored offline (another replica was faster): skipped.
      { deviceId: a, presence: { state: 'online' }, at: at(4) },
      // Retained, hours old: applied, dated by the device.
      {
        deviceId: b,
        presence: { state: 'offline' },
        at: at(6),
        origin: { sentAt: at(-3600), retained: true },
      },
      // A new boot id clears the report mark: the rebooted device's clock may have started over.
      { deviceId: c, presence: { state: 'online', bootId: 'boot-2', agentVersion: '1.1.0' }, at: at(6) },
      { deviceId: randomUUID(), presence: { state: 'online' }, at: at(6) },
    ]);
    expect(known).toEqual([true, true, true, false]);
    const stored = await rows([a, b, c]);
    expect(stored.get(a)).toMatchObject({ online: false, last_seen_at: at(5) });
    expect(stored.get(b)).toMatchObject({ online: false });
    expect(stored.get(c)).toMatchObject({ online: true, boot_id: 'boot-2', report_sent_at: null });
    expect(events.filter((e) => e.type === 'device.presence').map((e) => [e.deviceId, e.data.state])).toEqual(
      [
        [b, 'offline'],
        [c, 'online'],
      ],
    );
    expect(events.find((e) => e.deviceId === b)?.data.at).toBe(at(-3600).toISOString());
  });
});

async function metric(name: string, labels: string): Promise<number> {
  const text = (await hub.app.inject({ url: '/metrics' })).body;
  const line = text.split('\n').find((l) => l.startsWith(`${name}{${labels}}`));
  return line ? Number(line.split(' ').at(-1)) : 0;
}

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { createServer as createTcpServer } from 'node:net';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { Aedes } from 'aedes';
import { connectAsync, type MqttClient } from './helpers/mqtt-client.js';
import { deviceTopics, encodeMessage, type Command, type Target } from '@fleet/protocol';
import { aRelease } from '@fleet/protocol/testing';
import { OfflineQueue } from '../../src/link/offline-queue.js';
import { LinkSession, type CommandResult, type LinkHandlers } from '../../src/link/session.js';
import { TelemetryBatcher } from '../../src/link/telemetry-batcher.js';
import { aReport, Observer, recordingLogger, waitFor } from './helpers/link-fixtures.js';
import { freePort, TestMosquitto } from './helpers/link-mosquitto.js';
import { makeTestPki } from './helpers/link-pki.js';

const here = dirname(fileURLToPath(import.meta.url));
const agentDir = join(here, '..', '..');

let broker: TestMosquitto;
let work: string;
const cleanups: (() => Promise<void>)[] = [];

beforeAll(async () => {
  broker = await TestMosquitto.create();
  work = await mkdtemp(join(tmpdir(), 'link-session-'));
});
afterAll(async () => {
  await broker?.destroy();
  await rm(work, { recursive: true, force: true });
});
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  await broker.start(); // a test that stopped it must not break the next one
});

let seq = 0;
function nextDeviceId(): string {
  return `dev-${process.pid}-${++seq}`;
}

interface Agent {
  session: LinkSession;
  queue: OfflineQueue;
  logger: ReturnType<typeof recordingLogger>;
  targets: Target[];
  commands: Command[];
}

async function startAgent(
  deviceId: string,
  opts: {
    protocolVersion?: 4 | 5;
    url?: string;
    ca?: string;
    onCommand?: (c: Command) => Promise<CommandResult>;
    start?: boolean;
  } = {},
): Promise<Agent> {
  const logger = recordingLogger(process.env.LINK_ECHO === '1');
  const queue = await OfflineQueue.open({
    dir: join(work, deviceId, 'queue'),
    maxBytes: 1024 * 1024,
    logger,
  });
  const targets: Target[] = [];
  const commands: Command[] = [];
  const handlers: LinkHandlers = {
    onTarget: (t) => void targets.push(t),
    onCommand: async (c) => {
      commands.push(c);
      return opts.onCommand ? opts.onCommand(c) : { ok: true };
    },
  };
  const session = new LinkSession({
    deviceId,
    mqtt: { url: opts.url ?? broker.url, username: deviceId, password: 'anonymous-here', clientId: deviceId },
    queue,
    handlers,
    logger,
    agentVersion: '0.1.0',
    bootId: 'boot-1',
    protocolVersion: opts.protocolVersion ?? 5,
    ...(opts.ca ? { ca: opts.ca } : {}),
    reconnect: { initialMs: 100, maxMs: 400 },
  });
  cleanups.push(async () => {
    await session.stop();
    await queue.close();
  });
  if (opts.start !== false) session.start();
  return { session, queue, logger, targets, commands };
}

async function observe(
  deviceId: string,
  kinds: (keyof ReturnType<typeof deviceTopics>)[],
  protocolVersion: 4 | 5 = 5,
): Promise<Observer> {
  const t = deviceTopics(deviceId);
  const o = await Observer.connect(
    broker.url,
    `obs-${deviceId}`,
    kinds.map((k) => t[k]),
    protocolVersion,
  );
  cleanups.push(() => o.close());
  return o;
}

async function hubClient(): Promise<MqttClient> {
  const c = await connectAsync(broker.url, { clientId: `hub-${process.pid}-${++seq}`, protocolVersion: 5 });
  cleanups.push(() => c.endAsync(true));
  return c;
}

function payload<K extends 'target' | 'command'>(kind: K, body: unknown): Buffer {
  const enc = encodeMessage(kind, body as never);
  if (!enc.ok) throw enc.error;
  return enc.value.payload;
}

const markers = (o: Observer, id: string) =>
  o.decoded(deviceTopics(id).report, 'report').map((m) => m.body.configVersion);
const uniqueMarkers = (o: Observer, id: string) => {
  const seen = new Set<string>();
  return o
    .decoded(deviceTopics(id).report, 'report')
    .filter((m) => (seen.has(m.id) ? false : (seen.add(m.id), true)))
    .map((m) => m.body.configVersion);
};
const range = (from: number, to: number) => Array.from({ length: to - from }, (_, i) => from + i);

describe('link session on a real Mosquitto', () => {
  it('queues reports on disk while the broker is down and delivers every one in order after it returns', async () => {
    const id = nextDeviceId();
    const obs = await observe(id, ['report']);
    const agent = await startAgent(id);
    await waitFor('connect', () => agent.session.connected);
    for (const i of range(0, 10)) await agent.session.publish('report', aReport(i));
    await waitFor('first 10 reports', () => markers(obs, id).length >= 10);

    await broker.stop();
    await waitFor('agent notices the broker is gone', () => !agent.session.connected);
    for (const i of range(10, 210)) await agent.session.publish('report', aReport(i));
    expect(agent.queue.length).toBe(200);

    await broker.start();
    await waitFor('all 210 reports', () => uniqueMarkers(obs, id).length >= 210, 60_000);
    expect(uniqueMarkers(obs, id)).toEqual(range(0, 210));
    // Nothing was in flight when the broker went away, so not even a duplicate is allowed here.
    expect(markers(obs, id).filter((m) => (m ?? 0) >= 10)).toEqual(range(10, 210));
    await waitFor('queue drained', () => agent.queue.length === 0);
  });

  it('receives the retained target at connect, drops an invalid one, and hands each target over once', async () => {
    const id = nextDeviceId();
    const t = deviceTopics(id);
    const hub = await hubClient();
    const first: Target = {
      updateId: 'u-1',
      release: aRelease(),
      objectBaseUrl: 'http://127.0.0.1:1/api/v1/objects',
    } as Target;
    await hub.publishAsync(t.target, payload('target', first), { qos: 1, retain: true });

    const agent = await startAgent(id);
    await waitFor('retained target', () => agent.targets.length === 1);
    expect(agent.targets[0]?.updateId).toBe('u-1');
    expect(agent.targets[0]?.release.sequence).toBe(1);

    await hub.publishAsync(t.target, Buffer.from('{"v":1,"kind":"target","body":{"updateId":""}}'), {
      qos: 1,
      retain: true,
    });
    await waitFor('invalid target logged', () =>
      agent.logger.lines.some((l) => l.level === 'error' && l.message.startsWith('invalid target dropped')),
    );
    const second = {
      ...first,
      updateId: 'u-2',
      release: aRelease({ sequence: 2, version: '1.1.0', release: '1.1.0' }),
    };
    await hub.publishAsync(t.target, payload('target', second), { qos: 1, retain: true });
    await waitFor('second target', () => agent.targets.length === 2);

    // A reconnect re-sends the retained target; the handler must not see it again.
    await broker.stop();
    await waitFor('disconnect', () => !agent.session.connected);
    await broker.start();
    await waitFor('reconnect', () => agent.session.connected);
    await agent.session.publish('report', aReport(1)); // a round trip after the resubscribe
    await waitFor('report delivered', () => agent.queue.length === 0);
    expect(agent.targets.map((x) => x.updateId)).toEqual(['u-1', 'u-2']);
  });

  it('executes commands and acknowledges them: accepted then done or failed; an invalid command is rejected', async () => {
    const id = nextDeviceId();
    const t = deviceTopics(id);
    const obs = await observe(id, ['ack']);
    const agent = await startAgent(id, {
      onCommand: async (c) =>
        c.name === 'reboot'
          ? { ok: false, message: 'reboot refused in test' }
          : { ok: true, message: 'restarted' },
    });
    await waitFor('connect', () => agent.session.connected);
    const hub = await hubClient();
    await hub.publishAsync(
      t.command,
      payload('command', { commandId: 'c-1', name: 'restart-container', container: 'web' }),
      { qos: 1 },
    );
    await hub.publishAsync(t.command, payload('command', { commandId: 'c-2', name: 'reboot' }), { qos: 1 });
    await hub.publishAsync(
      t.command,
      Buffer.from(
        JSON.stringify({
          v: 1,
          kind: 'command',
          id: crypto.randomUUID(),
          time: new Date().toISOString(),
          body: { commandId: 'c-3', name: 'self-destruct' },
        }),
      ),
      { qos: 1 },
    );

    const acks = () => obs.decoded(t.ack, 'ack').map((m) => `${m.body.commandId}:${m.body.status}`);
    await waitFor('five acks', () => acks().length >= 5);
    expect(agent.commands.map((c) => c.commandId)).toEqual(['c-1', 'c-2']);
    // Each command: accepted before its outcome. Commands run one at a time, in arrival order.
    const of = (id: string) => acks().filter((a) => a.startsWith(`${id}:`));
    expect(of('c-1')).toEqual(['c-1:accepted', 'c-1:done']);
    expect(of('c-2')).toEqual(['c-2:accepted', 'c-2:failed']);
    expect(of('c-3')).toEqual(['c-3:rejected']);
    expect(acks().indexOf('c-1:done')).toBeLessThan(acks().indexOf('c-2:failed'));
    const failed = obs.decoded(t.ack, 'ack').find((m) => m.body.status === 'failed');
    expect(failed?.body.message).toBe('reboot refused in test');
  });

  it('keeps its persistent session: a command sent while the agent was away is delivered when it comes back', async () => {
    const id = nextDeviceId();
    const t = deviceTopics(id);
    const first = await startAgent(id);
    await waitFor('first connect', () => first.session.connected);
    await first.session.stop();
    const hub = await hubClient();
    await hub.publishAsync(t.command, payload('command', { commandId: 'while-away', name: 'upload-logs' }), {
      qos: 1,
    });

    const second = await startAgent(id);
    await waitFor('command delivered from the session', () => second.commands.length === 1);
    expect(second.commands[0]?.commandId).toBe('while-away');
  });

  it('speaks MQTT 3.1.1 when asked (the embedded broker has no MQTT 5)', async () => {
    const id = nextDeviceId();
    const obs = await observe(id, ['report'], 4);
    const agent = await startAgent(id, { protocolVersion: 4 });
    await waitFor('connect', () => agent.session.connected);
    expect(agent.session.mqttProtocolVersion).toBe(4);
    for (const i of range(0, 5)) await agent.session.publish('report', aReport(i));
    await waitFor('5 reports', () => markers(obs, id).length >= 5);
    expect(uniqueMarkers(obs, id)).toEqual(range(0, 5));
  });

  it('publishes telemetry directly while online, and keeps it on disk while offline', async () => {
    const id = nextDeviceId();
    const t = deviceTopics(id);
    const obs = await observe(id, ['telemetry']);
    const agent = await startAgent(id);
    await waitFor('connect', () => agent.session.connected);
    const sample = (n: number) => ({
      samples: [
        {
          time: new Date(1_700_000_000_000 + n * 1000).toISOString(),
          cpuPercent: n,
          memUsedBytes: 1,
          memTotalBytes: 2,
          diskUsedBytes: 1,
          diskTotalBytes: 2,
        },
      ],
    });
    await agent.session.publishTelemetry(sample(1));
    expect(agent.queue.length).toBe(0); // not written to flash while online
    await broker.stop();
    await waitFor('disconnect', () => !agent.session.connected);
    await agent.session.publishTelemetry(sample(2));
    await agent.session.publishTelemetry(sample(3));
    expect(agent.queue.length).toBe(2);
    await broker.start();
    await waitFor(
      '3 samples',
      () => new Set(obs.decoded(t.telemetry, 'telemetry').map((m) => m.id)).size >= 3,
    );
    // The observer's own QoS 1 session may see a copy after the broker restart: dedup by id (the hub's job).
    const byId = new Map(
      obs.decoded(t.telemetry, 'telemetry').map((m) => [m.id, m.body.samples[0]?.cpuPercent]),
    );
    expect([...byId.values()]).toEqual([1, 2, 3]);
  });
});

describe('telemetry in batches over a real session (decision 0037)', () => {
  it('publishes gathered samples as one message, holds them in memory across a broker outage, sends them on reconnect', async () => {
    const id = nextDeviceId();
    const t = deviceTopics(id);
    const obs = await observe(id, ['telemetry']);
    const agent = await startAgent(id);
    await waitFor('connect', () => agent.session.connected);
    const clock = { t: 1_700_000_000_000 };
    const batcher = new TelemetryBatcher({
      sampleEveryMs: 1_000,
      publishEveryMs: 3_000,
      send: (m) => agent.session.publishTelemetry({ samples: m.samples }, { id: m.id }),
      online: () => agent.session.connected,
      logger: agent.logger,
      now: () => clock.t,
    });
    agent.session.on('connected', () => batcher.onConnected());
    const take = (n: number) => {
      for (let i = 0; i < n; i++) {
        clock.t += 1_000;
        batcher.add({
          time: new Date(clock.t).toISOString(),
          cpuPercent: 1,
          memUsedBytes: 1,
          memTotalBytes: 2,
          diskUsedBytes: 1,
          diskTotalBytes: 2,
        });
      }
    };
    const messages = () => [
      ...new Map(obs.decoded(t.telemetry, 'telemetry').map((m) => [m.id, m.body.samples])).values(),
    ];
    take(3);
    await waitFor('the first message', () => messages().length === 1);
    expect(messages()[0]).toHaveLength(3);
    await broker.stop();
    await waitFor('disconnect', () => !agent.session.connected);
    take(4);
    await batcher.flush();
    expect(batcher.buffered).toBe(4);
    expect(agent.queue.length).toBe(0); // held in memory, not written to flash
    await broker.start();
    await waitFor('the held samples, sent on reconnect', () => messages().length === 2);
    expect(messages().map((m) => m.length)).toEqual([3, 4]);
    const times = messages()
      .flat()
      .map((s) => Date.parse(s.time) - 1_700_000_000_000);
    expect(times).toEqual([1, 2, 3, 4, 5, 6, 7].map((k) => k * 1_000));
    expect(batcher.buffered).toBe(0);
    expect(batcher.dropped).toBe(0);
  });
});

describe('link session in a child process (power-cut behaviour)', () => {
  function spawnAgent(
    id: string,
    queueDir: string,
  ): { child: ChildProcess; events: Record<string, unknown>[]; send(cmd: object): void } {
    const child = spawn(
      process.execPath,
      [
        '--conditions=fleet-source',
        '--import',
        'tsx',
        join(here, 'helpers', 'link-agent-child.ts'),
        JSON.stringify({ deviceId: id, url: broker.url, clientId: id, queueDir }),
      ],
      { cwd: agentDir, stdio: ['pipe', 'pipe', 'inherit'] },
    );
    const events: Record<string, unknown>[] = [];
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (l) => {
      try {
        events.push(JSON.parse(l) as Record<string, unknown>);
      } catch {
        // stray output
      }
    });
    cleanups.push(async () => {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGKILL');
        await new Promise((r) => child.once('exit', r));
      }
    });
    return { child, events, send: (cmd) => child.stdin?.write(`${JSON.stringify(cmd)}\n`) };
  }

  it('the broker publishes the retained offline presence (Last Will) when the agent is SIGKILLed', async () => {
    const id = nextDeviceId();
    const t = deviceTopics(id);
    const a = spawnAgent(id, join(work, id, 'queue'));
    await waitFor('child connected', () => a.events.some((e) => e.event === 'connected'), 60_000);
    const obs = await observe(id, ['presence']);
    await waitFor('retained online presence', () =>
      obs.decoded(t.presence, 'presence').some((m) => m.body.state === 'online'),
    );
    expect(obs.decoded(t.presence, 'presence')[0]?.retain).toBe(true);

    a.child.kill('SIGKILL');
    await waitFor('offline presence', () =>
      obs.decoded(t.presence, 'presence').some((m) => m.body.state === 'offline'),
    );
    const offline = obs.decoded(t.presence, 'presence').find((m) => m.body.state === 'offline');
    expect(offline?.body.agentVersion).toBe('0.1.0');
    // Retained: a hub that subscribes later still learns the device is offline.
    const late = await observe(id, ['presence']);
    await waitFor(
      'late subscriber sees offline',
      () => late.decoded(t.presence, 'presence').at(-1)?.body.state === 'offline',
    );
  });

  it('reports queued by an agent killed while offline are delivered in order by the next agent process', async () => {
    const id = nextDeviceId();
    const queueDir = join(work, id, 'queue');
    const obs = await observe(id, ['report']);
    await broker.stop();
    const a = spawnAgent(id, queueDir);
    await waitFor('child opened its queue', () => a.events.some((e) => e.event === 'opened'), 60_000);
    a.send({ op: 'report', from: 0, count: 50 });
    await waitFor('50 queued', () => a.events.some((e) => e.event === 'queued' && e.upTo === 49));
    a.child.kill('SIGKILL');
    await new Promise((r) => a.child.once('exit', r));

    await broker.start();
    const b = spawnAgent(id, queueDir);
    await waitFor('second child found the queue', () => b.events.find((e) => e.event === 'opened'), 60_000);
    expect(b.events.find((e) => e.event === 'opened')?.pending).toBe(50);
    await waitFor('50 reports', () => uniqueMarkers(obs, id).length >= 50, 60_000);
    expect(uniqueMarkers(obs, id)).toEqual(range(0, 50));
    expect(markers(obs, id)).toEqual(range(0, 50));
  });
});

describe('TLS with a pinned CA', () => {
  let tlsBroker: TestMosquitto;
  let pki: string;
  beforeAll(async () => {
    const p = await makeTestPki();
    pki = p.dir;
    tlsBroker = await TestMosquitto.create({
      listenerLines: [`cafile ${p.ca}`, `certfile ${p.cert}`, `keyfile ${p.key}`],
    });
  });
  afterAll(async () => {
    await tlsBroker?.destroy();
    await rm(pki, { recursive: true, force: true });
  });

  it('connects with the pinned CA and refuses a broker whose certificate another CA signed', async () => {
    const url = `mqtts://127.0.0.1:${tlsBroker.port}`;
    const good = await startAgent(nextDeviceId(), { url, ca: await readFile(join(pki, 'ca.pem'), 'utf8') });
    await waitFor('TLS connect', () => good.session.connected);
    await good.session.publish('report', aReport(1));
    await waitFor('report over TLS', () => good.queue.length === 0);

    const bad = await startAgent(nextDeviceId(), {
      url,
      ca: await readFile(join(pki, 'other-ca.pem'), 'utf8'),
    });
    await waitFor('certificate error logged', () =>
      bad.logger.lines.some((l) => /certificate/i.test(l.message)),
    );
    expect(bad.session.connected).toBe(false);
  });
});

describe('the embedded broker (aedes 1.2.0, no MQTT 5)', () => {
  it('an agent configured for MQTT 5 falls back to 3.1.1 when the broker refuses the version, and delivers', async () => {
    const aedes = await Aedes.createBroker();
    const tcp = createTcpServer(aedes.handle);
    const port = await freePort();
    await new Promise<void>((r) => tcp.listen(port, '127.0.0.1', r));
    cleanups.push(async () => {
      await new Promise<void>((r) => aedes.close(() => r()));
      await new Promise<void>((r) => tcp.close(() => r()));
    });
    const url = `mqtt://127.0.0.1:${port}`;
    const id = nextDeviceId();
    const obs = await Observer.connect(url, `obs-${id}`, [deviceTopics(id).report], 4);
    cleanups.push(() => obs.close());

    const agent = await startAgent(id, { url });
    await waitFor('connected after the fallback', () => agent.session.connected);
    expect(agent.session.mqttProtocolVersion).toBe(4);
    expect(agent.logger.lines.some((l) => /refused MQTT 5; continuing with MQTT 3.1.1/.test(l.message))).toBe(
      true,
    );
    for (const i of range(0, 3)) await agent.session.publish('report', aReport(i));
    await waitFor('3 reports through aedes', () => uniqueMarkers(obs, id).length >= 3);
    expect(uniqueMarkers(obs, id)).toEqual(range(0, 3));
  });
});

describe('a broker that refuses a message (MQTT 5 PUBACK 0x87)', () => {
  it('drops the refused entry loudly instead of blocking the queue, and delivers the rest', async () => {
    const id = nextDeviceId();
    const t = deviceTopics(id);
    const aclDir = await mkdtemp(join(tmpdir(), 'link-acl-'));
    const acl = join(aclDir, 'acl');
    // The agent (user = its device id) may do everything on its topics except publish reports;
    // the anonymous observer may read.
    const rules = [
      `topic read ${t.report}`,
      ...(['progress', 'presence', 'target', 'command', 'ack'] as const).map(
        (k) => `topic readwrite ${t[k]}`,
      ),
    ];
    await writeFile(acl, [...rules, `user ${id}`, ...rules, ''].join('\n'));
    const strict = await TestMosquitto.create({ listenerLines: [`acl_file ${acl}`] });
    cleanups.push(async () => {
      await strict.destroy();
      await rm(aclDir, { recursive: true, force: true });
    });
    const obs = await Observer.connect(strict.url, `obs-${id}`, [t.progress]);
    cleanups.push(() => obs.close());
    const agent = await startAgent(id, { url: strict.url });
    await waitFor('connect', () => agent.session.connected);
    await agent.session.publish('report', aReport(1));
    const progress = {
      updateId: 'u-1',
      revision: { digest: `sha256:${'c'.repeat(64)}`, version: '1.0.0', sequence: 1 },
      state: 'downloading' as const,
      status: 'downloading' as const,
      percent: 10,
    };
    await agent.session.publish('progress', progress);
    await waitFor(
      'progress delivered behind the refused report',
      () => obs.decoded(t.progress, 'progress').length === 1,
    );
    await waitFor('queue empty', () => agent.queue.length === 0);
    expect(
      agent.logger.lines.some(
        (l) => l.level === 'error' && /broker rejected queued report .*Not authorized/.test(l.message),
      ),
    ).toBe(true);
  });
});

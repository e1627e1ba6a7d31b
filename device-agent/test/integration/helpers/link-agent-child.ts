// A device agent's link in its own process, so a test can SIGKILL it like a power cut.
// argv[2]: JSON {deviceId, url, clientId, queueDir, protocolVersion}. Reads JSON lines on stdin
// ({"op":"report","from":n,"count":k}), writes JSON lines events on stdout.
import { createInterface } from 'node:readline';
import { OfflineQueue } from '../../../src/link/offline-queue.js';
import { LinkSession } from '../../../src/link/session.js';
import { aReport } from './link-fixtures.js';

const cfg = JSON.parse(process.argv[2] ?? '{}') as {
  deviceId: string;
  url: string;
  clientId: string;
  queueDir: string;
  protocolVersion?: 4 | 5;
};
const out = (event: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(event)}\n`);
const logger = {
  debug: () => {},
  info: (m: string) => out({ event: 'log', level: 'info', message: m }),
  warn: (m: string) => out({ event: 'log', level: 'warn', message: m }),
  error: (m: string) => out({ event: 'log', level: 'error', message: m }),
};

const queue = await OfflineQueue.open({ dir: cfg.queueDir, maxBytes: 1024 * 1024, logger });
out({ event: 'opened', pending: queue.length });
const session = new LinkSession({
  deviceId: cfg.deviceId,
  mqtt: { url: cfg.url, username: cfg.deviceId, password: 'unused', clientId: cfg.clientId },
  queue,
  logger,
  agentVersion: '0.1.0',
  protocolVersion: cfg.protocolVersion ?? 5,
  reconnect: { initialMs: 100, maxMs: 500 },
  handlers: { onTarget: () => {}, onCommand: async () => ({ ok: true }) },
});
session.on('connected', () => out({ event: 'connected' }));
session.on('disconnected', () => out({ event: 'disconnected' }));
session.on('delivered', (e) => out({ event: 'delivered', seq: e.seq }));
session.start();

for await (const line of createInterface({ input: process.stdin })) {
  const cmd = JSON.parse(line) as { op: string; from: number; count: number };
  if (cmd.op === 'report') {
    for (let i = cmd.from; i < cmd.from + cmd.count; i++) await session.publish('report', aReport(i));
    out({ event: 'queued', upTo: cmd.from + cmd.count - 1 });
  }
}

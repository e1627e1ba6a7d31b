import type { HubEvent } from '@fleet/protocol';
import { describe, expect, it } from 'vitest';
import { HubctlError } from '../cli/errors.js';
import { runCli } from '../cli/program.js';
import { fakeContext } from '../testing/fake-context.js';
import { COMMANDS } from './index.js';

const ID = '6b1f6a52-3a51-4f4f-9f55-0c6b8f0c1c11';
const T1 = '2026-11-30T10:00:00.000Z';
const T2 = '2026-11-30T10:00:01.000Z';

const event = (lines: object[]) => {
  const e: HubEvent = {
    type: 'device.logs',
    at: T2,
    scope: 'logs',
    minRole: 'viewer',
    deviceId: ID,
    data: { lines },
  };
  return `event: device.logs\ndata: ${JSON.stringify(e)}\n\n`;
};

describe('devices logs', () => {
  it('prints recent lines oldest first', async () => {
    const ctx = fakeContext(() => ({
      status: 200,
      body: {
        items: [
          { id: '2', deviceId: ID, source: 'web', stream: 'stderr', at: T2, text: 'second' },
          { id: '1', deviceId: ID, source: 'web', stream: 'stdout', at: T1, text: 'first' },
        ],
        nextCursor: null,
      },
    }));
    await runCli(['devices', 'logs', ID, '-n', '2', '--source', 'web'], COMMANDS, ctx);
    expect(ctx.out.join('')).toBe(`${T1} web[stdout] first\n${T2} web[stderr] second\n`);
    expect(ctx.requests).toEqual([`GET /api/v1/devices/${ID}/logs?limit=2&source=web`]);
  });

  it('follows: a line seen in the history and the stream is printed once, other sources are filtered, a closed stream is an error', async () => {
    const ctx = fakeContext((_m, url) => {
      if (url.pathname === '/api/v1/events') {
        return {
          status: 200,
          text: `: connected\n\n${event([{ time: T1, source: 'web', stream: 'stdout', text: 'first' }])}${event(
            [
              { time: T2, source: 'agent', stream: 'system', text: 'not mine' },
              { time: T2, source: 'web', stream: 'stdout', text: 'live' },
              { bad: 'line' },
            ],
          )}`,
        };
      }
      return {
        status: 200,
        body: {
          items: [{ id: '1', deviceId: ID, source: 'web', stream: 'stdout', at: T1, text: 'first' }],
          nextCursor: null,
        },
      };
    });
    const e: unknown = await runCli(
      ['devices', 'logs', ID, '-f', '--source', 'web', '--json'],
      COMMANDS,
      ctx,
    ).then(
      () => null,
      (x: unknown) => x,
    );
    expect(e).toBeInstanceOf(HubctlError);
    expect((e as Error).message).toBe('the hub closed the log stream');
    expect(ctx.out.map((l) => JSON.parse(l) as { text: string }).map((l) => l.text)).toEqual([
      'first',
      'live',
    ]);
    expect(ctx.requests[0]).toBe(`GET /api/v1/events?deviceId=${ID}&type=device.logs`);
  });

  it('reports a refused stream as the hub error, not as an unhandled rejection', async () => {
    const ctx = fakeContext((_m, url) =>
      url.pathname === '/api/v1/events'
        ? { status: 403, body: { statusCode: 403, message: 'token scope' } }
        : { status: 200, body: { items: [], nextCursor: null } },
    );
    await expect(runCli(['devices', 'logs', ID, '--follow'], COMMANDS, ctx)).rejects.toMatchObject({
      status: 403,
    });
  });
});

import type { ClaimToken, Device, Fleet } from '@fleet/protocol';
import { CommanderError } from 'commander';
import { describe, expect, it } from 'vitest';
import { COMMANDS } from '../commands/index.js';
import { fakeContext } from '../testing/fake-context.js';
import { UsageError } from './errors.js';
import { flagName, runCli } from './program.js';

const FLEET: Fleet = {
  id: '6b1f6a52-3a51-4f4f-9f55-0c6b8f0c1c11',
  name: 'lab',
  description: '',
  createdAt: '2026-01-01T00:00:00.000Z',
  deviceCount: 0,
};
const TOKEN: ClaimToken = {
  id: '1d7c1c9e-7c0b-4d35-9a77-5b3d0a1f2e11',
  fleetId: FLEET.id,
  name: 'x',
  tags: [],
  maxUses: null,
  uses: 0,
  expiresAt: null,
  revokedAt: null,
  createdAt: FLEET.createdAt,
  createdBy: 'user:1',
};

async function usageError(argv: string[]): Promise<UsageError> {
  const ctx = fakeContext();
  const e: unknown = await runCli(argv, COMMANDS, ctx).then(
    () => null,
    (x: unknown) => x,
  );
  expect(e).toBeInstanceOf(UsageError);
  expect(ctx.requests).toEqual([]);
  return e as UsageError;
}

describe('command-line parsing', () => {
  it('names options the way they are typed', () => {
    expect(flagName('maxUses')).toBe('--max-uses');
    expect(flagName('fleet')).toBe('--fleet');
  });

  it('refuses bad option values before any request, naming the option', async () => {
    expect(
      (await usageError(['claim-tokens', 'create', '--fleet', 'lab', '--name', 'x', '--max-uses', '0']))
        .message,
    ).toBe('--max-uses: must be at least 1');
    expect(
      (await usageError(['claim-tokens', 'create', '--fleet', 'lab', '--name', 'x', '--max-uses', '2.5']))
        .message,
    ).toBe('--max-uses: must be a whole number');
    expect(
      (await usageError(['claim-tokens', 'create', '--fleet', 'Lab!', '--name', 'x'])).message,
    ).toContain('--fleet: must be a fleet name');
    expect(
      (await usageError(['claim-tokens', 'create', '--fleet', 'lab', '--name', 'x', '--tag', 'Bad Tag']))
        .message,
    ).toContain('--tag[0]: must be "key" or "key=value"');
    expect((await usageError(['devices', 'show', 'not-a-uuid'])).message).toBe('<id>: must be an id (uuid)');
    expect((await usageError(['devices', 'ls', '--status', 'sleeping'])).message).toContain('--status:');
    expect((await usageError(['releases', 'yank', '1.0.0'])).message).toBe(
      '--reason: is required: say why the release is yanked',
    );
    expect((await usageError(['release', 'create'])).message).toBe(
      '--file: is required: the release file (release.yaml)',
    );
  });

  it('carries the usage line of the command in a usage error', async () => {
    const e = await usageError(['devices', 'tag', FLEET.id]);
    expect(e.message).toBe('--add: give tags with --add k=v and/or --remove k');
    expect(e.usage).toBe('usage: hubctl devices tag [options] <id...>');
  });

  it('login wants exactly one way of giving the token and an http(s) URL', async () => {
    expect((await usageError(['login', '--url', 'http://hub:8080'])).message).toContain(
      '--token: give the API token',
    );
    expect(
      (await usageError(['login', '--url', 'http://hub:8080', '--token', 't', '--token-stdin'])).message,
    ).toContain('--token: give the API token');
    expect((await usageError(['login', '--url', 'ftp://hub', '--token', 't'])).message).toContain(
      '--url: must be an http:// or https:// URL',
    );
  });

  it('image build needs a claim token or a fleet to make one', async () => {
    expect((await usageError(['image', 'build', '--board', 'qemu-aarch64', '--out', 'o'])).message).toContain(
      '--claim-token: give --claim-token',
    );
  });

  it('leaves unknown options and excess arguments to commander (usage errors in bin.ts)', async () => {
    const ctx = fakeContext();
    await expect(runCli(['fleets', 'ls', '--colour'], COMMANDS, ctx)).rejects.toBeInstanceOf(CommanderError);
    expect(ctx.err.join('')).toContain("unknown option '--colour'");
    await expect(runCli(['fleets', 'ls', 'extra'], COMMANDS, fakeContext())).rejects.toBeInstanceOf(
      CommanderError,
    );
    await expect(runCli(['frobnicate', 'ls'], COMMANDS, fakeContext())).rejects.toBeInstanceOf(
      CommanderError,
    );
  });

  it('collects repeatable options and sends them as the hub expects', async () => {
    const ctx = fakeContext((method, url, body) => {
      if (url.pathname === '/api/v1/fleets/lab/claim-tokens' && method === 'POST')
        return { status: 201, body: { ...TOKEN, ...(body as object), token: 'secret-token-123456' } };
      return { status: 404, body: { statusCode: 404, message: 'nope' } };
    });
    await runCli(
      [
        'claim-tokens',
        'create',
        '--fleet',
        'lab',
        '--name',
        'line 2',
        '--tag',
        'a=1',
        '--tag',
        'b',
        '--max-uses',
        '5',
        '--json',
      ],
      COMMANDS,
      ctx,
    );
    expect(JSON.parse(ctx.out.join(''))).toMatchObject({
      name: 'line 2',
      tags: ['a=1', 'b'],
      maxUses: 5,
      token: 'secret-token-123456',
    });
  });

  it('prints text by default and JSON with --json', async () => {
    const answer = () => ({ status: 200, body: [FLEET] });
    const text = fakeContext(answer);
    await runCli(['fleets', 'ls'], COMMANDS, text);
    expect(text.out.join('')).toMatch(
      /^NAME\s+DEVICES\s+CREATED\s+ID\s+DESCRIPTION\nlab\s+0\s+2026-01-01T00:00:00Z/,
    );
    const json = fakeContext(answer);
    await runCli(['fleets', 'ls', '--json'], COMMANDS, json);
    expect(JSON.parse(json.out.join(''))).toEqual([FLEET]);
  });

  it('resolves a fleet name to its id for the device list and follows every page', async () => {
    // Typed with the hub's shape, so that a fixture cannot drift from what the hub sends.
    const device = (n: number): Device => ({
      id: `00000000-0000-4000-8000-00000000000${n}`,
      fleetId: FLEET.id,
      name: `d${n}`,
      hardwareId: `hw${n}`,
      board: 'qemu-aarch64',
      agentVersion: '0.1.0',
      tags: [],
      online: true,
      lastSeenAt: FLEET.createdAt,
      currentRelease: null,
      currentRevisionDigest: null,
      currentSequence: null,
      updateState: 'idle',
      updateStatus: null,
      updateReason: null,
      failedRevisions: [],
      createdAt: FLEET.createdAt,
      decommissionedAt: null,
    });
    const ctx = fakeContext((_m, url) => {
      if (url.pathname === '/api/v1/fleets/lab') return { status: 200, body: FLEET };
      if (url.searchParams.get('cursor') === null)
        return { status: 200, body: { items: [device(1)], nextCursor: 'c1' } };
      return { status: 200, body: { items: [device(2)], nextCursor: null } };
    });
    await runCli(['devices', 'ls', '--fleet', 'lab', '--tag', 'site=a', '--json'], COMMANDS, ctx);
    expect((JSON.parse(ctx.out.join('')) as { name: string }[]).map((d) => d.name)).toEqual(['d1', 'd2']);
    expect(ctx.requests[1]).toBe(`GET /api/v1/devices?fleetId=${FLEET.id}&tag=site%3Da&limit=200`);
    expect(ctx.requests[2]).toContain('cursor=c1');
  });

  it('every read command has --json and every command sits in one file under its noun-verb name', () => {
    for (const spec of COMMANDS) {
      expect(spec.json, spec.path.join(' ')).toBe(true);
    }
    const names = COMMANDS.map((c) => c.path.join(' '));
    expect(new Set(names).size).toBe(names.length);
  });
});

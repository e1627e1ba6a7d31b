import { describe, expect, it } from 'vitest';
import { AgentConfigError, parseAgentConfigText } from './config.js';

const PATH = '/etc/fleet/agent.json';
const good = {
  hubUrl: 'https://hub.example.org',
  claimToken: 'claim-0123456789abcdef',
  board: 'qemu-aarch64',
};

function fails(text: string): AgentConfigError {
  try {
    parseAgentConfigText(PATH, text);
  } catch (e) {
    expect(e).toBeInstanceOf(AgentConfigError);
    return e as AgentConfigError;
  }
  throw new Error('expected an AgentConfigError');
}

describe('agent config', () => {
  it('applies the defaults of protocol AgentConfig', () => {
    const c = parseAgentConfigText(PATH, JSON.stringify(good));
    expect(c.storageDir).toBe('/storage');
    expect(c.intervals.telemetryMs).toBe(60_000);
    expect(c.limits.offlineQueueBytes).toBe(8 * 1024 * 1024);
  });

  it('names the file and the JSON error for text that is not JSON', () => {
    const e = fails('{"hubUrl": ');
    expect(e.message).toContain(PATH);
    expect(e.message).toMatch(/not valid JSON/);
  });

  it('names the file and each bad field by its JSON path', () => {
    const e = fails(JSON.stringify({ ...good, hubUrl: 'not a url', intervals: { telemetryMs: 5 } }));
    expect(e.message).toContain(PATH);
    expect(e.issues.map((i) => i.path)).toEqual(
      expect.arrayContaining(['$.hubUrl', '$.intervals.telemetryMs']),
    );
    expect(e.message).toContain('$.intervals.telemetryMs');
  });

  it('refuses unknown keys (a typo must not be silently ignored)', () => {
    const e = fails(JSON.stringify({ ...good, hubURL: 'https://x' }));
    expect(e.message).toMatch(/hubURL/);
  });

  it('refuses a relative storage dir', () => {
    expect(fails(JSON.stringify({ ...good, storageDir: 'data' })).issues[0]?.path).toBe('$.storageDir');
  });
});

import { describe, expect, it } from 'vitest';
import { parseAgentConfig, parseProvisionRequest, parseProvisionResponse } from './provisioning.js';

const response = {
  deviceId: 'd1',
  fleetId: 'f1',
  mqtt: { url: 'mqtt://10.0.2.2:1884', username: 'device:d1', password: 'p', clientId: 'd1' },
  objectBaseUrl: 'http://10.0.2.2:8080/api/v1/objects',
};

describe('provisioning', () => {
  it('an older agent still provisions against a newer hub that sends fields it does not know', () => {
    const r = parseProvisionResponse({ ...response, quota: 5, mqtt: { ...response.mqtt, keepAlive: 30 } });
    expect(r.ok && r.value).toEqual(response);
  });

  it('a request is strict: a misspelt field is an error naming it', () => {
    const r = parseProvisionRequest({
      claimToken: 'x'.repeat(20),
      hardwareId: 'h',
      publicKey: `${'A'.repeat(43)}=`,
      board: 'b',
      agentVersion: '1.0.0',
      boardd: 'x',
    });
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error.message).toContain('boardd');
  });

  it.each([
    [{ hubUrl: 'not a url', board: 'b' }, '$.hubUrl'],
    [{ hubUrl: 'http://h', board: 'B!' }, '$.board'],
    [
      {
        hubUrl: 'http://h',
        board: 'b',
        uboot: { slotA: 'vda2', slotB: '/dev/vda3', fwEnvConfig: '/etc/fw_env.config' },
      },
      '$.uboot.slotA',
    ],
    [{ hubUrl: 'http://h', board: 'b', watchdog: { device: '/tmp/wd' } }, '$.watchdog.device'],
    [{ hubUrl: 'http://h', board: 'b', intervals: { telemetryMs: 10 } }, '$.intervals.telemetryMs'],
  ])('refuses a bad agent config %j at %s', (input, path) => {
    const r = parseAgentConfig(input);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error.issues.map((i) => i.path)).toContain(path);
  });

  describe('intervals.telemetryPublishMs', () => {
    const base = { hubUrl: 'http://h', board: 'b' };
    const intervalsOf = (intervals: object | undefined) => {
      const r = parseAgentConfig(intervals ? { ...base, intervals } : base);
      if (!r.ok) throw r.error;
      return r.value.intervals;
    };

    it('defaults to 300 000 (5 samples a message at the default telemetryMs)', () => {
      expect(intervalsOf(undefined)).toEqual({
        telemetryMs: 60_000,
        telemetryPublishMs: 300_000,
        reportMs: 300_000,
        logFlushMs: 2_000,
      });
      expect(intervalsOf({ telemetryMs: 10_000 }).telemetryPublishMs).toBe(300_000);
    });

    it('defaults to telemetryMs when sampling is slower than the default publish interval', () => {
      expect(intervalsOf({ telemetryMs: 600_000 }).telemetryPublishMs).toBe(600_000);
    });

    it('keeps an explicit value, equal to telemetryMs meaning one sample a message', () => {
      expect(intervalsOf({ telemetryMs: 60_000, telemetryPublishMs: 60_000 }).telemetryPublishMs).toBe(
        60_000,
      );
      expect(intervalsOf({ telemetryMs: 5_000, telemetryPublishMs: 20_000 }).telemetryPublishMs).toBe(20_000);
    });

    it.each([
      [{ telemetryMs: 60_000, telemetryPublishMs: 30_000 }, /must be ≥ telemetryMs \(60000\)/],
      [{ telemetryPublishMs: 59_999 }, /telemetryPublishMs \(59999\) must be ≥ telemetryMs/],
      [{ telemetryPublishMs: 300_000.5 }, /whole number of milliseconds/],
      [{ telemetryPublishMs: 0 }, /must be > 0/],
      [{ telemetryPublishMs: -1 }, /must be > 0/],
      [{ telemetryPublishMs: '300000' }, /number/i],
    ])(
      'refuses intervals %j with a clear message at $.intervals.telemetryPublishMs',
      (intervals, message) => {
        const r = parseAgentConfig({ ...base, intervals });
        expect(r.ok).toBe(false);
        if (r.ok) return;
        const issue = r.error.issues.find((i) => i.path === '$.intervals.telemetryPublishMs');
        expect(issue?.message).toMatch(message);
      },
    );
  });
});

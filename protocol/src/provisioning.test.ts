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
});

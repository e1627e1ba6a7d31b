import { describe, expect, it } from 'vitest';
import {
  allDevicesFilter,
  deviceAcl,
  deviceTopics,
  parseTopic,
  sharedFilter,
  TOPIC_KINDS,
  topics,
} from './topics.js';

describe('topics', () => {
  it('builds every topic of a device and parses each back', () => {
    const t = topics.device('dev-01');
    expect(t.report).toBe('fleet/v1/devices/dev-01/report');
    for (const kind of TOPIC_KINDS) {
      expect(parseTopic(deviceTopics('dev-01')[kind])).toEqual({
        ok: true,
        value: { deviceId: 'dev-01', kind },
      });
    }
  });

  it('builds hub filters, shared and plain', () => {
    expect(allDevicesFilter('report')).toBe('fleet/v1/devices/+/report');
    expect(sharedFilter('hub', 'telemetry')).toBe('$share/hub/fleet/v1/devices/+/telemetry');
    expect(() => sharedFilter('a/b', 'report')).toThrow(RangeError);
  });

  it('grants a device publish on its uplink topics and subscribe on its downlink topics only', () => {
    const acl = deviceAcl('d1');
    expect(acl.publish).toContain('fleet/v1/devices/d1/report');
    expect(acl.publish).not.toContain('fleet/v1/devices/d1/target');
    expect(acl.subscribe).toEqual(['fleet/v1/devices/d1/target', 'fleet/v1/devices/d1/command']);
  });

  it.each(['', 'a/b', '+', '#', '$SYS', 'a b', 'x'.repeat(129)])('refuses the device id %j', (id) => {
    expect(() => deviceTopics(id)).toThrow(RangeError);
  });

  it.each([
    [42, /not a string/],
    ['fleet/v1/devices/d1', /topic/],
    ['fleet/v2/devices/d1/report', /topic/],
    ['fleet/v1/devices/d1/report/extra', /topic/],
    ['fleet/v1/devices/+/report', /device id/],
    ['fleet/v1/devices/d1/reports', /topic kind/],
    ['$share/hub/fleet/v1/devices/d1/report', /topic/],
  ])('refuses the topic %j', (topic, message) => {
    const r = parseTopic(topic);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.error.issues[0]?.message).toMatch(message);
  });
});

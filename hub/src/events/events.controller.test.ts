import { describe, expect, it } from 'vitest';
import type { UserPrincipal } from '../auth/principal.js';
import type { HubEvent } from './event-bus.js';
import { visibleTo } from './events.controller.js';

const event = (over: Partial<HubEvent> = {}): HubEvent => ({
  type: 'device.presence',
  at: '2026-01-01T00:00:00Z',
  scope: 'devices',
  minRole: 'viewer',
  deviceId: 'd1',
  fleetId: 'f1',
  data: {},
  ...over,
});
const viewer: UserPrincipal = { kind: 'user', userId: 'u', email: 'v@x', role: 'viewer', scopes: [] };

describe('visibleTo', () => {
  it("filters by role, token scope and the subscriber's own filters", () => {
    expect(visibleTo(event(), viewer, {})).toBe(true);
    expect(visibleTo(event({ minRole: 'admin', scope: 'audit', type: 'audit.entry' }), viewer, {})).toBe(
      false,
    );
    expect(visibleTo(event(), { ...viewer, scopes: ['releases'] }, {})).toBe(false);
    expect(visibleTo(event(), viewer, { deviceId: 'd2' })).toBe(false);
    expect(visibleTo(event(), viewer, { fleetId: 'f1', type: ['device.presence'] })).toBe(true);
    expect(visibleTo(event(), viewer, { type: ['device.report'] })).toBe(false);
  });
});

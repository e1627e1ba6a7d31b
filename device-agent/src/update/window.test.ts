import type { MaintenanceWindow } from '@fleet/protocol';
import { describe, expect, it } from 'vitest';
import { isValidTimeZone, isWithinWindow, localTime, msUntilOpen } from './window.js';

const w = (over: Partial<MaintenanceWindow>): MaintenanceWindow => ({
  days: ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'],
  start: '02:00',
  end: '04:00',
  timeZone: 'UTC',
  ...over,
});
// 2026-11-30 is a Monday.
const at = (iso: string) => new Date(iso);

describe('isWithinWindow', () => {
  it.each([
    ['inside a same-day window', w({}), '2026-11-30T03:00:00Z', true],
    ['at the start (inclusive)', w({}), '2026-11-30T02:00:00Z', true],
    ['at the end (exclusive)', w({}), '2026-11-30T04:00:00Z', false],
    ['before', w({}), '2026-11-30T01:59:00Z', false],
    ['on a day not listed', w({ days: ['tue'] }), '2026-11-30T03:00:00Z', false],
    [
      'spanning midnight, evening part',
      w({ days: ['mon'], start: '22:00', end: '02:00' }),
      '2026-11-30T23:30:00Z',
      true,
    ],
    [
      'spanning midnight, morning after',
      w({ days: ['mon'], start: '22:00', end: '02:00' }),
      '2026-12-01T01:30:00Z',
      true,
    ],
    [
      'spanning midnight, morning of the listed day belongs to the day before',
      w({ days: ['mon'], start: '22:00', end: '02:00' }),
      '2026-11-30T01:30:00Z',
      false,
    ],
    [
      'spanning midnight, after the end',
      w({ days: ['mon'], start: '22:00', end: '02:00' }),
      '2026-12-01T02:00:00Z',
      false,
    ],
    [
      'spanning midnight into the next week',
      w({ days: ['sun'], start: '23:00', end: '01:00' }),
      '2026-11-30T00:30:00Z',
      true,
    ],
    [
      'start == end is a whole day from start',
      w({ days: ['mon'], start: '06:00', end: '06:00' }),
      '2026-12-01T05:59:00Z',
      true,
    ],
    [
      'start == end ends at start the next day',
      w({ days: ['mon'], start: '06:00', end: '06:00' }),
      '2026-12-01T06:00:00Z',
      false,
    ],
    // 03:00 local in Berlin (UTC+1 in winter) is 02:00 UTC.
    [
      'in a time zone',
      w({ timeZone: 'Europe/Berlin', start: '03:00', end: '04:00' }),
      '2026-11-30T02:30:00Z',
      true,
    ],
    [
      'in a time zone, UTC hour would match but local does not',
      w({ timeZone: 'Europe/Berlin', start: '03:00', end: '04:00' }),
      '2026-11-30T03:30:00Z',
      false,
    ],
    // Tokyo is UTC+9: Monday 23:30 UTC is Tuesday 08:30 there.
    [
      'the local weekday differs from UTC',
      w({ timeZone: 'Asia/Tokyo', days: ['tue'], start: '08:00', end: '09:00' }),
      '2026-11-30T23:30:00Z',
      true,
    ],
    // Summer time in Berlin (UTC+2): 2026-07-01 01:30 UTC is 03:30 local.
    [
      'across DST',
      w({ timeZone: 'Europe/Berlin', start: '03:00', end: '04:00' }),
      '2026-07-01T01:30:00Z',
      true,
    ],
  ])('%s', (_what, window, iso, inside) => {
    expect(isWithinWindow(window, at(iso))).toBe(inside);
  });
});

describe('msUntilOpen', () => {
  it.each([
    ['open now', w({}), '2026-11-30T03:00:00Z', 0],
    ['later today', w({}), '2026-11-30T01:00:00Z', 3600_000],
    ['tomorrow', w({}), '2026-11-30T05:00:00Z', 21 * 3600_000],
    ['next listed weekday', w({ days: ['wed'] }), '2026-11-30T05:00:00Z', (2 * 24 - 3) * 3600_000],
    [
      'a window shorter than the search step',
      w({ start: '10:00', end: '10:05' }),
      '2026-11-30T09:58:30Z',
      90_000,
    ],
  ])('%s', (_what, window, iso, ms) => {
    expect(msUntilOpen(window, at(iso))).toBe(ms);
  });
});

describe('time zones', () => {
  it('knows IANA zones and refuses made-up ones', () => {
    expect(isValidTimeZone('Europe/Berlin')).toBe(true);
    expect(isValidTimeZone('Mars/Olympus')).toBe(false);
  });

  it('reads weekday and minute in a zone', () => {
    expect(localTime(at('2026-11-30T23:30:00Z'), 'Asia/Tokyo')).toEqual({ day: 'tue', minute: 8 * 60 + 30 });
  });
});

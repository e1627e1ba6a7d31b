// Maintenance windows in device-local time. Pure: the engine passes the clock's now.
import type { MaintenanceWindow } from '@fleet/protocol';

type Weekday = MaintenanceWindow['days'][number];
const WEEKDAYS: readonly Weekday[] = ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'];

const formatters = new Map<string, Intl.DateTimeFormat>();
function formatter(timeZone: string | undefined): Intl.DateTimeFormat {
  const key = timeZone ?? '';
  let f = formatters.get(key);
  if (!f) {
    f = new Intl.DateTimeFormat('en-US', {
      ...(timeZone ? { timeZone } : {}),
      weekday: 'short',
      hour: '2-digit',
      minute: '2-digit',
      hourCycle: 'h23',
    });
    formatters.set(key, f);
  }
  return f;
}

export function isValidTimeZone(timeZone: string): boolean {
  try {
    formatter(timeZone);
    return true;
  } catch {
    return false;
  }
}

/** Weekday and minute of the day at `at` in the zone (the device's own zone when absent). */
export function localTime(at: Date, timeZone?: string): { day: Weekday; minute: number } {
  const parts = formatter(timeZone).formatToParts(at);
  const get = (t: string) => parts.find((p) => p.type === t)?.value ?? '';
  const day = get('weekday').toLowerCase().slice(0, 3) as Weekday;
  if (!WEEKDAYS.includes(day)) throw new RangeError(`unexpected weekday "${get('weekday')}"`);
  return { day, minute: Number(get('hour')) * 60 + Number(get('minute')) };
}

const minutes = (hhmm: string) => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));
const previous = (d: Weekday): Weekday => WEEKDAYS[(WEEKDAYS.indexOf(d) + 6) % 7] ?? 'sat';

/**
 * Whether `at` is inside the window. `days` name the day a window opens on, so a window
 * 22:00-02:00 on `fri` covers Friday 22:00 to Saturday 02:00 (and not Friday 01:00, which
 * belongs to Thursday's window). `start == end` means a whole day from `start`. The end is
 * exclusive. Local wall-clock time: on a DST change day the window follows the clock.
 */
export function isWithinWindow(w: MaintenanceWindow, at: Date): boolean {
  const { day, minute } = localTime(at, w.timeZone);
  const start = minutes(w.start);
  const end = minutes(w.end);
  const days = new Set(w.days);
  if (start < end) return days.has(day) && minute >= start && minute < end;
  // Spans midnight (or a full day when start == end).
  return (days.has(day) && minute >= start) || (days.has(previous(day)) && minute < end);
}

/**
 * Milliseconds from `at` to the next opening, to the minute, for messages and for sleeping.
 * 0 when the window is open. Searches one week ahead in one-minute steps only near
 * candidates, so it stays cheap.
 */
export function msUntilOpen(w: MaintenanceWindow, at: Date): number {
  if (isWithinWindow(w, at)) return 0;
  const base = Math.floor(at.getTime() / 60_000) * 60_000;
  // Jump in steps no longer than the window to a point inside it, then walk back minute by
  // minute to the opening.
  const length = (minutes(w.end) - minutes(w.start) + 1440) % 1440 || 1440;
  const jump = Math.max(1, Math.min(15, length));
  for (let step = jump; step <= 8 * 24 * 60; step += jump) {
    const t = base + step * 60_000;
    if (isWithinWindow(w, new Date(t))) {
      let open = t;
      while (open - 60_000 > at.getTime() && isWithinWindow(w, new Date(open - 60_000))) open -= 60_000;
      return open - at.getTime();
    }
  }
  return Number.POSITIVE_INFINITY;
}

export function describeWindow(w: MaintenanceWindow): string {
  return `${w.days.join(',')} ${w.start}-${w.end} ${w.timeZone ?? 'device time'}`;
}

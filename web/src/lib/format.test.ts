import { describe, expect, it } from 'vitest';
import { formatAgo, formatBytes, formatPercent, shortDigest } from './format.js';

describe('format', () => {
  it('formats sizes in binary units', () => {
    expect(formatBytes(0)).toBe('0 B');
    expect(formatBytes(1536)).toBe('1.5 KiB');
    expect(formatBytes(5 * 1024 ** 3)).toBe('5.0 GiB');
    expect(formatBytes(null)).toBe('–');
  });

  it('formats relative times against a given now', () => {
    const now = Date.parse('2026-11-30T12:00:00Z');
    expect(formatAgo('2026-11-30T11:59:30Z', now)).toBe('30 s ago');
    expect(formatAgo('2026-11-30T11:00:00Z', now)).toBe('1 h ago');
    expect(formatAgo('2026-11-28T12:00:00Z', now)).toBe('2 d ago');
    expect(formatAgo(null, now)).toBe('never');
  });

  it('formats percents and digests', () => {
    expect(formatPercent(1, 3)).toBe('33%');
    expect(formatPercent(1, 0)).toBe('0%');
    expect(shortDigest(`sha256:${'ab'.repeat(32)}`)).toBe('sha256:abababababab');
  });
});

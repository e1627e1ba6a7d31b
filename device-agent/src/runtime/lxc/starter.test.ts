import { describe, expect, it } from 'vitest';
import { parseHelperReply } from './starter.js';

describe('parseHelperReply', () => {
  it('reads a start with its init pid', () => {
    expect(parseHelperReply('7 ok 1234')).toEqual({ id: 7, ok: true, initPid: 1234 });
  });

  it('treats a pid of 0 or below as unknown, not as an unreadable line (the helper answers -1 when the container already exited)', () => {
    expect(parseHelperReply('2 ok -1')).toEqual({ id: 2, ok: true, initPid: null });
    expect(parseHelperReply('3 ok 0')).toEqual({ id: 3, ok: true, initPid: null });
  });

  it('reads a failure with its message, and names one when the helper gave none', () => {
    expect(parseHelperReply('4 err container web has no config under /x')).toEqual({
      id: 4,
      ok: false,
      error: 'container web has no config under /x',
    });
    expect(parseHelperReply('5 err ')).toEqual({ id: 5, ok: false, error: 'start failed' });
  });

  it('returns null for anything else', () => {
    for (const line of ['', 'garbage', 'ok 1', '1 ok', '1 ok 12x', 'x ok 1', '1 fine 2', ' 1 ok 2'])
      expect(parseHelperReply(line), line).toBeNull();
  });
});

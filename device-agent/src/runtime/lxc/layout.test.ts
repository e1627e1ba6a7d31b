import { describe, expect, it } from 'vitest';
import { checkLxcVersion, LXC_METHODS, MEASURED_METHOD_OFFSETS, methodOffset } from './layout.js';

describe('struct lxc_container layout', () => {
  it('has the 61 function pointers of 5.0 and agrees with every offset measured by gcc', () => {
    expect(LXC_METHODS).toHaveLength(61);
    for (const [m, off] of Object.entries(MEASURED_METHOD_OFFSETS))
      expect([m, methodOffset(m as (typeof LXC_METHODS)[number])]).toEqual([m, off]);
  });
});

describe('checkLxcVersion', () => {
  it('accepts 5.0.x and 6.0.x', () => {
    expect(checkLxcVersion('5.0.2')).toEqual({ ok: true, version: '5.0.2' });
    expect(checkLxcVersion('6.0.6')).toEqual({ ok: true, version: '6.0.6' });
  });
  it('refuses other layouts with a message naming the version', () => {
    expect(checkLxcVersion('4.0.6')).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/liblxc 4\.0\.6 is not supported/),
    });
    expect(checkLxcVersion('7.0.0')).toMatchObject({ ok: false });
    expect(checkLxcVersion('')).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/did not report a version/),
    });
    expect(checkLxcVersion(null)).toMatchObject({ ok: false });
  });
});

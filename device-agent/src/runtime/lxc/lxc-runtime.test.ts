import { describe, expect, it } from 'vitest';
import { parseLastExit } from './lxc-runtime.js';

describe('parseLastExit', () => {
  it('takes the last exit status the monitor logged, 0 when none', () => {
    expect(parseLastExit('x - Child <12> ended on error (3)\ny - Child <14> ended on error (137)\n')).toEqual(
      { code: 137 },
    );
    expect(parseLastExit('Started "/.fleet-init" with pid "5"\n')).toEqual({ code: 0 });
    expect(parseLastExit('a - Child <9> ended on signal Killed(9)\n')).toEqual({ code: 137 });
    expect(parseLastExit('a - Child <9> ended on signal Segmentation fault(11)\n')).toEqual({ code: 139 });
  });
});

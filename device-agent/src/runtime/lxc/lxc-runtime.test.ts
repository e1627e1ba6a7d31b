import { describe, expect, it } from 'vitest';
import { parseLastExit, startedPid } from './lxc-runtime.js';

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

describe('startedPid', () => {
  it('takes the init pid the monitor logged for this run, null when there is none', () => {
    const line = (pid: string) =>
      `lxc b0 20261130203019.550 NOTICE   start - ../src/lxc/start.c:post_start:2205 - Started "/.fleet-init" with pid "${pid}"\n`;
    expect(startedPid(`x\n${line('17395')}y\n`)).toBe(17395);
    expect(startedPid(line('12') + line('13'))).toBe(13);
    expect(startedPid('')).toBeNull();
    expect(startedPid('Started "/.fleet-init" with pid "1"\n')).toBeNull();
    expect(startedPid('Started "/.fleet-init" with pid ""\n')).toBeNull();
  });
});

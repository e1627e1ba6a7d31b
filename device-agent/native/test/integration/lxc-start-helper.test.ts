// The served protocol of fleet-lxc-start (what HelperStarter speaks), byte by byte: each request
// is read by a spare child forked in advance, so framing errors must end the server with a
// clear message and well-framed but wrong requests must be answered without ending it.
// Container starts themselves are covered by device-agent's runtime-lxc integration test.
import { spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { lxcStartHelperPath } from '../../src/index.js';

// liblxc 5.0/6.0 offsets (device-agent/src/runtime/lxc/layout.ts is the source of truth; the
// agent checks them against the library before it runs the helper).
const LAYOUT = 'is_defined=80,is_running=96,init_pid=120,start=136,want_daemonize=160';

let lxcpath: string;
beforeAll(async () => {
  lxcpath = await mkdtemp(join(tmpdir(), 'fleet-helper-'));
});
afterAll(async () => {
  await rm(lxcpath, { recursive: true, force: true });
});

function frame(fields: readonly string[]): Buffer {
  const body = Buffer.from(fields.map((f) => `${f}\0`).join(''));
  return Buffer.concat([Buffer.from(`${body.length}\0`), body]);
}

/** Runs the served helper on `input` (then EOF); its exit code, stdout lines and stderr. */
function serve(input: Buffer): Promise<{ code: number | null; lines: string[]; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(lxcStartHelperPath, ['--layout', LAYOUT, '--serve'], { stdio: 'pipe' });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('close', (code) =>
      resolve({ code, lines: out.split('\n').filter(Boolean).sort(), stderr: err }),
    );
    child.stdin.end(input);
  });
}

describe('fleet-lxc-start --serve', () => {
  it('answers each well-framed request, including wrong ones, and ends at EOF', async () => {
    const r = await serve(
      Buffer.concat([
        frame(['1', lxcpath, 'nosuch', '1', '/bin/true']),
        frame(['2', lxcpath, 'other', '2', '/bin/echo', 'a b']),
        frame(['3', lxcpath, 'nosuch', '3', '/bin/true']),
      ]),
    );
    expect(r.lines).toEqual([
      `1 err container nosuch has no config under ${lxcpath}`,
      `2 err container other has no config under ${lxcpath}`,
      '3 err malformed request (fields do not match argc)',
    ]);
    expect(r.code).toBe(0);
  });

  it('refuses a request without a program', async () => {
    const r = await serve(frame(['4', lxcpath, 'nosuch', '0']));
    expect(r.lines).toEqual(['4 err malformed request (fields do not match argc)']);
    expect(r.code).toBe(0);
  });

  it('ends with a clear message on a bad length (the stream cannot be resynchronised)', async () => {
    const r = await serve(Buffer.from('12x\0garbage'));
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('bad request length "12x"');
    expect(r.lines).toEqual([]);
  });

  it('ends with a clear message when the input stops inside a request', async () => {
    const r = await serve(
      Buffer.concat([frame(['5', lxcpath, 'nosuch', '1', '/bin/true']), Buffer.from('100\0abc')]),
    );
    expect(r.lines).toEqual([`5 err container nosuch has no config under ${lxcpath}`]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('truncated request');
  });
});

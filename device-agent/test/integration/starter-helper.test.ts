// HelperStarter against stand-in helpers that misbehave in ways the real C helper could (an
// answer nobody expects, no answer at all): every start must settle with a clear error, and the
// next start must get a fresh helper. The real helper is exercised in runtime-lxc.test.ts.
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { HelperStarter } from '../../src/runtime/lxc/starter.js';

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fleet-starter-'));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A stand-in `fleet-lxc-start --serve`: ignores its requests and prints `lines` with pauses. */
async function fakeHelper(name: string, script: string): Promise<string> {
  const path = join(dir, name);
  await writeFile(path, `#!/bin/sh\nexec 0</dev/null\n${script}\n`);
  await chmod(path, 0o755);
  return path;
}

describe('HelperStarter with a misbehaving helper', () => {
  it('settles a start answered with pid -1 (container already gone) and fails the others on an unreadable line, then respawns', async () => {
    const helper = await fakeHelper(
      'garbage',
      // Each run of the helper answers once, then says something no start asked for.
      'sleep 0.2\necho "1 ok -1"\nsleep 0.2\necho "not a reply"\nexec sleep 30',
    );
    const starter = new HelperStarter(helper);
    const first = starter.start('/lxc', 'a', ['/bin/true']);
    const second = starter.start('/lxc', 'b', ['/bin/true']);
    await expect(first).resolves.toBeNull();
    await expect(second).rejects.toThrow(/start helper sent a reply it should not: "not a reply"/);
    expect(starter.pid).toBeUndefined(); // the confused helper was dropped
    // The next start spawns a new helper (id 3 is not what it answers, so it stays pending
    // until that helper's unreadable line fails it too).
    await expect(starter.start('/lxc', 'c', ['/bin/true'])).rejects.toThrow(/reply it should not/);
    await starter.close();
  });

  it('fails a start the helper never answers, after the bound, naming the container', async () => {
    const helper = await fakeHelper('silent', 'exec sleep 30');
    const starter = new HelperStarter(helper, 300);
    await expect(starter.start('/lxc', 'web', ['/bin/true'])).rejects.toThrow(
      /start of web: no answer from the start helper in 0.3 s/,
    );
    // It does not read its stdin either, so close() alone would wait for it: end it first.
    process.kill(starter.pid!, 'SIGKILL');
    await starter.close();
  });
});

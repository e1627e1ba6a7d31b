import { describe, expect, it } from 'vitest';
import { idleJournal, JOURNAL_FILE, readJournal, writeJournal } from './journal.js';
import { Ledger } from './ledger.js';
import { FakeFiles } from './testing/fakes.js';

describe('journal', () => {
  it('a device without a journal is idle', async () => {
    expect(await readJournal(new FakeFiles())).toEqual({ ok: true, journal: idleJournal() });
  });

  it('reads back what it wrote, counting writes', async () => {
    const f = new FakeFiles();
    const j = await writeJournal(f, { ...idleJournal(), state: 'idle' });
    expect(j.writes).toBe(1);
    expect(await readJournal(f)).toEqual({ ok: true, journal: j });
  });

  it.each([
    ['truncated JSON', '{"spec":"fleet-update-journal@1","sta', /not JSON/],
    ['binary garbage', '\u0000\u00ff\u0013', /not JSON/],
    [
      'a wrong state',
      '{"spec":"fleet-update-journal@1","state":"dancing","writes":1,"update":null,"resumes":{}}',
      /\$\.state/,
    ],
    ['another format', '{"spec":"something-else@1"}', /\$\.spec/],
  ])('reports %s with the cause instead of guessing', async (_what, text, error) => {
    const f = new FakeFiles();
    f.files.set(JOURNAL_FILE, Buffer.from(text));
    const r = await readJournal(f);
    expect(r.ok).toBe(false);
    expect(r.ok ? '' : r.error).toMatch(error);
  });
});

describe('ledger', () => {
  const entry = (n: number) => ({
    revision: `${n}-x`,
    releaseDigest: `sha256:${String(n).repeat(64).slice(0, 64)}`,
    version: `${n}.0.0`,
    sequence: n,
    configVersion: 0,
  });

  it('commits by replacing `current` in one write, keeping earlier commits as history', async () => {
    const f = new FakeFiles();
    const l = new Ledger(f);
    expect(await l.current()).toBeNull();
    await l.commit(entry(1), 'A');
    const writes = f.writes;
    await l.commit(entry(2), 'B');
    expect(f.writes).toBe(writes + 1);
    expect(await l.current()).toMatchObject({
      committed: { sequence: 2 },
      slot: 'B',
      history: [{ sequence: 1 }],
    });
  });

  it('refuses to treat an unreadable `current` as a fresh device', async () => {
    const f = new FakeFiles();
    f.files.set('current', Buffer.from('{"spec":"fleet-current@1"'));
    await expect(new Ledger(f).current()).rejects.toThrow();
  });

  it('remembers failed revisions and forgets one on request', async () => {
    const l = new Ledger(new FakeFiles());
    await l.markFailed('a');
    await l.markFailed('a');
    await l.markFailed('b');
    expect([...(await l.failed())]).toEqual(['a', 'b']);
    await l.clearFailed('a');
    expect([...(await l.failed())]).toEqual(['b']);
  });
});

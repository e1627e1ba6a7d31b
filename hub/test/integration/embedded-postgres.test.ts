// The embedded Postgres (no DATABASE_URL) as root runs as the system user `postgres`, which must
// search every folder down to the hub's data dir. A data dir it cannot reach (under a 0700
// folder, as /root is) used to fail with initdb's "Permission denied" on a first start, and
// with a bare `undefined` once initialised; both now name the folder and the ways out. A server
// that exits during start for another reason reports its own last lines.
import { createServer, type Server } from 'node:net';
import { chmod, mkdir, mkdtemp, rm, stat } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startEmbeddedPostgres } from '../../src/database/embedded-postgres.js';
import { freePort } from './helpers/mosquitto.js';

const root = process.getuid?.() === 0;
let dir: string;
const lines: string[] = [];
const log = (l: string) => void lines.push(l);

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fleet-embedded-pg-'));
  await chmod(dir, 0o711);
});
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe.skipIf(!root)('embedded Postgres as root', () => {
  it('refuses a data dir under a folder user postgres cannot enter, naming it and the fixes', async () => {
    const locked = join(dir, 'locked');
    await mkdir(locked, { mode: 0o700 });
    await chmod(locked, 0o700);
    const dataDir = join(locked, 'state', 'hub');
    // A strict umask must not make the folders the hub creates unreachable too.
    const umask = process.umask(0o077);
    const error = await startEmbeddedPostgres(dataDir, await freePort(), log)
      .then(
        () => null,
        (e: Error) => e,
      )
      .finally(() => process.umask(umask));
    expect(error?.message).toContain(`cannot use ${dataDir}`);
    expect(error?.message).toContain(`cannot enter ${locked} (mode 0700)`);
    expect(error?.message).toContain(`chmod o+x ${locked}`);
    expect(error?.message).toContain('HUB_DATA_DIR');
    expect(error?.message).toContain('DATABASE_URL');
    // Refused before initdb: nothing half-initialised is left behind.
    expect(existsSync(join(dataDir, 'pg'))).toBe(false);
    expect((await stat(join(locked, 'state'))).mode & 0o777).toBe(0o711);
    expect((await stat(dataDir)).mode & 0o777).toBe(0o711);
  });

  it('starts in a reachable dir (umask 077), then names the folder when it is closed later', async () => {
    const parent = join(dir, 'later');
    const dataDir = join(parent, 'hub');
    const port = await freePort();
    // umask 077: initdb (as postgres) must still read the password file the package writes.
    const umask = process.umask(0o077);
    const tmp = process.env.TMPDIR;
    const db = await startEmbeddedPostgres(dataDir, port, log).finally(() => process.umask(umask));
    await db.stop();
    expect(process.env.TMPDIR).toBe(tmp);
    expect(existsSync(join(dataDir, 'pg-init'))).toBe(false);

    await chmod(parent, 0o700);
    try {
      await expect(startEmbeddedPostgres(dataDir, port, log)).rejects.toThrow(
        `cannot enter ${parent} (mode 0700)`,
      );
    } finally {
      await chmod(parent, 0o711);
    }
    // Once let through it starts on the same data again.
    const again = await startEmbeddedPostgres(dataDir, port, log);
    await again.stop();
  });
});

describe('embedded Postgres start failures', () => {
  it('reports the server’s own reason when it exits during start (port taken)', async () => {
    const dataDir = join(dir, 'busy', 'hub');
    const port = await freePort();
    const taken: Server = createServer();
    await new Promise<void>((r) => taken.listen(port, '127.0.0.1', r));
    try {
      await expect(startEmbeddedPostgres(dataDir, port, log)).rejects.toThrow(
        /embedded Postgres in .*busy\/hub\/pg did not start: the server exited:[\s\S]*could not bind/,
      );
    } finally {
      await new Promise((r) => taken.close(r));
    }
  });
});

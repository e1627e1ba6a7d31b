import { createHash, generateKeyPairSync } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { generateSigningKey, parseReleaseManifest, verifyManifest } from '@fleet/protocol';
import { runFleetImage } from '../../src/cli/main.js';
import { releaseRootfs } from '../../src/release/release-rootfs.js';

// A stand-in slot image: release-rootfs treats the slot image as opaque bytes (the real ext4
// one is released in test/e2e/qemu-ota.test.ts and booted in qemu).
let dir: string;
let slot: string;
let slotHex: string;
const key = generateSigningKey('test');
const signal = new AbortController().signal;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fleet-release-rootfs-'));
  slot = join(dir, 'slot.ext4');
  const bytes = Buffer.alloc(3 * 1024 * 1024 + 17, 0x42);
  await writeFile(slot, bytes);
  slotHex = createHash('sha256').update(bytes).digest('hex');
  await writeFile(join(dir, 'key.pem'), key.privateKeyPem);
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe('releaseRootfs', () => {
  it('writes the slot image as an object and a signed system release naming it', async () => {
    const out = join(dir, 'rel');
    const r = await releaseRootfs({
      rootfsImage: slot,
      board: 'qemu-aarch64',
      version: '1.1.0',
      sequence: 7,
      key,
      outDir: out,
    });
    expect(r.object).toEqual({
      digest: `sha256:${slotHex}`,
      size: 3 * 1024 * 1024 + 17,
      path: join(out, 'objects/sha256', slotHex),
    });
    expect(
      createHash('sha256')
        .update(await readFile(r.object.path))
        .digest('hex'),
    ).toBe(slotHex);
    const onDisk: unknown = JSON.parse(await readFile(join(out, 'release.json'), 'utf8'));
    const parsed = parseReleaseManifest(onDisk);
    if (!parsed.ok) throw new Error(JSON.stringify(parsed.error));
    expect(parsed.value.system).toEqual({
      rootfs: { digest: `sha256:${slotHex}`, size: 3 * 1024 * 1024 + 17, slot: 'ab' },
    });
    expect(parsed.value).toMatchObject({
      spec: 'fleet-release@1',
      board: 'qemu-aarch64',
      compatibleBoards: ['qemu-aarch64'],
      version: '1.1.0',
      sequence: 7,
      containers: {},
    });
    expect(verifyManifest(onDisk, [key.trustRoot]).ok).toBe(true);
    expect(verifyManifest(onDisk, [generateSigningKey().trustRoot]).ok).toBe(false);
  });

  it('copies the object: editing the slot image later does not change a published object', async () => {
    const out = join(dir, 'rel-copy');
    const r = await releaseRootfs({
      rootfsImage: slot,
      board: 'qemu-aarch64',
      version: '1.1.1',
      sequence: 8,
      key,
      outDir: out,
    });
    // A hard link would share the inode (and every later in-place edit of the slot image).
    expect((await stat(r.object.path)).ino).not.toBe((await stat(slot)).ino);
  });

  it('refuses a missing or empty slot image and an invalid manifest, writing nothing', async () => {
    const out = join(dir, 'rel-bad');
    await expect(
      releaseRootfs({
        rootfsImage: join(dir, 'nope.ext4'),
        board: 'qemu-aarch64',
        version: '1.0.0',
        sequence: 1,
        key,
        outDir: out,
      }),
    ).rejects.toThrow(/nope\.ext4: no such slot image/);
    await writeFile(join(dir, 'empty.ext4'), '');
    await expect(
      releaseRootfs({
        rootfsImage: join(dir, 'empty.ext4'),
        board: 'qemu-aarch64',
        version: '1.0.0',
        sequence: 1,
        key,
        outDir: out,
      }),
    ).rejects.toThrow(/is empty/);
    await expect(
      releaseRootfs({
        rootfsImage: slot,
        board: 'Bad Board',
        version: '1.0.0',
        sequence: 1,
        key,
        outDir: out,
      }),
    ).rejects.toThrow(/release manifest invalid: \$\.board/);
    await expect(stat(out)).rejects.toThrow(/ENOENT/);
  });
});

describe('fleet-image release-rootfs', () => {
  it('prints the release, the object and the key', async () => {
    const r = await runFleetImage(
      [
        'release-rootfs',
        '--rootfs',
        slot,
        '--board',
        'qemu-aarch64',
        '--version',
        '2.0.0',
        '--sequence',
        '9',
        '--key',
        join(dir, 'key.pem'),
        '--out',
        join(dir, 'cli'),
        '--json',
      ],
      signal,
    );
    expect(r.stderr).toBe('');
    expect(r.exitCode).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ object: { digest: `sha256:${slotHex}` }, keyId: key.keyId });
  });

  it.each([
    [
      'no version',
      ['--rootfs', 'x', '--board', 'qemu-aarch64', '--sequence', '1', '--key', 'k', '--out', 'o'],
      /--version is required/,
    ],
    [
      'bad version',
      [
        '--rootfs',
        'x',
        '--board',
        'qemu-aarch64',
        '--version',
        'v1',
        '--sequence',
        '1',
        '--key',
        'k',
        '--out',
        'o',
      ],
      /semantic version/,
    ],
    [
      'zero sequence',
      [
        '--rootfs',
        'x',
        '--board',
        'qemu-aarch64',
        '--version',
        '1.0.0',
        '--sequence',
        '0',
        '--key',
        'k',
        '--out',
        'o',
      ],
      /--sequence must be positive/,
    ],
    [
      'rootfs without board',
      ['--rootfs', 'x', '--version', '1.0.0', '--sequence', '1', '--key', 'k', '--out', 'o'],
      /--rootfs with --board/,
    ],
    [
      'both sources',
      [
        '--image-manifest',
        'm',
        '--rootfs',
        'x',
        '--version',
        '1.0.0',
        '--sequence',
        '1',
        '--key',
        'k',
        '--out',
        'o',
      ],
      /not both/,
    ],
    ['unknown option', ['--rootfs', 'x', '--colour'], /colour/],
  ])('usage error (exit 2): %s', async (_name, args, message) => {
    const r = await runFleetImage(['release-rootfs', ...args], signal);
    expect(r.exitCode).toBe(2);
    expect(r.stderr).toMatch(message);
  });

  it('refuses a key that is not an ed25519 private key (exit 2) and a missing key file', async () => {
    const rsa = generateKeyPairSync('rsa', { modulusLength: 1024 })
      .privateKey.export({ type: 'pkcs8', format: 'pem' })
      .toString();
    await writeFile(join(dir, 'rsa.pem'), rsa);
    const args = [
      '--rootfs',
      slot,
      '--board',
      'qemu-aarch64',
      '--version',
      '1.0.0',
      '--sequence',
      '1',
      '--out',
      join(dir, 'k'),
    ];
    const bad = await runFleetImage(['release-rootfs', ...args, '--key', join(dir, 'rsa.pem')], signal);
    expect(bad.exitCode).toBe(2);
    expect(bad.stderr).toMatch(/not an ed25519 private key/);
    const missing = await runFleetImage(
      ['release-rootfs', ...args, '--key', join(dir, 'missing.pem')],
      signal,
    );
    expect(missing.exitCode).toBe(2);
    expect(missing.stderr).toMatch(/missing\.pem: ENOENT/);
  });

  it('refuses an image manifest that is not one, naming the file', async () => {
    await writeFile(join(dir, 'not-a-manifest.json'), '{"spec":"other"}');
    const r = await runFleetImage(
      [
        'release-rootfs',
        '--image-manifest',
        join(dir, 'not-a-manifest.json'),
        '--version',
        '1.0.0',
        '--sequence',
        '1',
        '--key',
        join(dir, 'key.pem'),
        '--out',
        join(dir, 'm'),
      ],
      signal,
    );
    expect(r.exitCode).toBe(1);
    expect(r.stderr).toMatch(/not-a-manifest\.json is not a fleet-image manifest: \$\.spec/);
  });
});

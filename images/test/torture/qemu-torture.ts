// `pnpm --filter @fleet/images torture:qemu`: N system updates of an emulated qemu-aarch64
// device through a real hub, with M power cuts (qemu SIGKILLed, nothing synced) at random
// instants while the agent writes the inactive slot and during the first boot of the new slot.
// Prints the counts of updates (by outcome), cuts, bricks (a device that does not come back
// online on a good slot; goal 0) and lost permanent data (a canary file on the data partition
// and the device's identity; goal 0). Not part of CI.
//
// Environment: TORTURE_UPDATES (N, default 3), TORTURE_CUTS (M, default 3), TORTURE_SEED,
// TORTURE_PHASES (default "slot-write,first-boot": where cuts may fall),
// TORTURE_UPDATE_TIMEOUT_S (default 2700: one update's time to settle before it counts as stuck),
// TORTURE_BOOT_TIMEOUT_S (default 1800: a single boot running longer is killed and counted as
// hung), TORTURE_KEEP=1 keeps the scratch directory (serial log in serial.log).
// The timeouts are generous on purpose: on a shared 2-core host qemu's TCG guest can get a tenth
// of a core, and a 216 MiB download then takes many minutes; a slow device is not a brick.
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { QemuDevice, run, waitFor } from '../../../test/e2e/helpers/qemu-device.js';
import { prepareQemuFleet, type HubDevice } from '../../../test/e2e/helpers/qemu-fleet.js';

const N = Number(process.env.TORTURE_UPDATES ?? 3);
const M = Number(process.env.TORTURE_CUTS ?? 3);
let seed = Number(process.env.TORTURE_SEED ?? Date.now() % 2 ** 31);
const initialSeed = seed;
const UPDATE_TIMEOUT_MS = Number(process.env.TORTURE_UPDATE_TIMEOUT_S ?? 2700) * 1000;
const BOOT_TIMEOUT_MS = Number(process.env.TORTURE_BOOT_TIMEOUT_S ?? 1800) * 1000;
const PHASES = (process.env.TORTURE_PHASES ?? 'slot-write,first-boot')
  .split(',')
  .map((p) => p.trim()) as CutPhase[];
/** mulberry32: a reproducible run from TORTURE_SEED. */
function random(): number {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const log = (m: string) =>
  process.stderr.write(`torture:qemu ${new Date().toISOString().slice(11, 19)} ${m}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type CutPhase = 'slot-write' | 'first-boot';

async function main(): Promise<number> {
  if (!Number.isInteger(N) || N < 1 || !Number.isInteger(M) || M < 0)
    throw new Error('TORTURE_UPDATES must be >= 1 and TORTURE_CUTS >= 0');
  if (PHASES.length === 0 || PHASES.some((p) => p !== 'slot-write' && p !== 'first-boot'))
    throw new Error('TORTURE_PHASES lists slot-write and/or first-boot');
  const dir = await mkdtemp(join(tmpdir(), 'fleet-qemu-torture-'));
  log(`scratch ${dir}, ${N} updates, ${M} cuts, seed ${initialSeed}`);
  const fleet = await prepareQemuFleet(dir, log);
  const disk = join(dir, 'disk.img');
  await run('cp', ['--sparse=always', fleet.image, disk]);
  const dataOffset = fleet.manifest.partitions.find((p) => p.role === 'data')?.offset;
  if (dataOffset === undefined) throw new Error('image has no data partition');
  const dataFs = `${disk}?offset=${dataOffset}`;

  // Permanent data: a canary on the data partition, put there before the first power-on.
  const canary = randomBytes(1024 * 1024);
  const canaryDigest = createHash('sha256').update(canary).digest('hex');
  await writeFile(join(dir, 'canary'), canary);
  await run('debugfs', ['-w', '-R', 'mkdir /permanent', dataFs]);
  await run('debugfs', ['-w', '-R', `write ${join(dir, 'canary')} /permanent/canary`, dataFs]);

  // Which updates get which cuts: M cuts spread at random over the N updates and both phases.
  const plan: CutPhase[][] = Array.from({ length: N }, () => []);
  for (let i = 0; i < M; i++)
    plan[Math.floor(random() * N)]!.push(PHASES[Math.floor(random() * PHASES.length)]!);

  const device = new QemuDevice({
    disk,
    qemuArgs: fleet.qemuArgs,
    network: true,
    bootTimeoutMs: BOOT_TIMEOUT_MS,
  });
  const counts = {
    updates: 0,
    succeeded: 0,
    rolledBack: 0,
    failed: 0,
    cuts: 0,
    cutsDuringSlotWrite: 0,
    cutsDuringFirstBoot: 0,
    plannedCutsMissed: 0,
    bricks: 0,
    lostPermanentData: 0,
    stuck: 0,
    boots: 0,
    hungBoots: 0,
  };
  const context = () => device.log().slice(-4000);
  let exitCode = 0;
  try {
    device.start();
    const first = await waitFor(
      'the device to come online',
      async () => (await fleet.devices()).find((d) => d.online),
      300_000,
      context,
    );
    const deviceId = first.id;
    log(`device ${deviceId} online`);
    let sequence = 1;
    for (let u = 0; u < N; u++) {
      const version = `2.0.${u + 1}`;
      const slot = await fleet.variant(join(dir, `rootfs-${version}.ext4`), `qemu-aarch64-${version}`);
      await fleet.abortRollouts();
      sequence++;
      const cuts = [...plan[u]!];
      log(`update ${version} (sequence ${sequence}), cuts planned: ${cuts.join(', ') || 'none'}`);
      await fleet.publishSystemRelease(slot, version, sequence, [deviceId]);
      counts.updates++;
      await rm(slot, { force: true });

      let bootsAtInstall = -1;
      const deadline = Date.now() + UPDATE_TIMEOUT_MS;
      let settled: HubDevice | undefined;
      while (Date.now() < deadline) {
        const d = await fleet.device(deviceId).catch(() => undefined);
        const events = (await fleet.updates(deviceId).catch(() => []))
          .filter((e) => e.releaseVersion === version)
          .sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : 0));
        const terminal = events.find((e) => ['succeeded', 'rolled-back', 'failed'].includes(e.status));
        if (d && terminal && d.updateState === 'idle' && d.online) {
          settled = d;
          log(`update ${version}: ${terminal.status}${terminal.reason ? ` (${terminal.reason})` : ''}`);
          if (terminal.status === 'succeeded') counts.succeeded++;
          else if (terminal.status === 'rolled-back') counts.rolledBack++;
          else counts.failed++;
          break;
        }
        const latest = events[events.length - 1];
        // The progress of this update says the agent writes the slot (installing, before the
        // reboot): every boot after this one is a boot of the new slot (or of the fallback).
        const writing = latest?.state === 'installing' && !terminal;
        if (writing && bootsAtInstall < 0) bootsAtInstall = device.boots;
        if (writing && cuts[0] === 'slot-write') {
          // Somewhere inside the slot write (tens of seconds here).
          await sleep(random() * 6000);
          const again = (await fleet.updates(deviceId).catch(() => []))
            .filter((e) => e.releaseVersion === version)
            .sort((a, b) => (a.at < b.at ? -1 : a.at > b.at ? 1 : 0));
          if (again[again.length - 1]?.state === 'installing' && device.boots === bootsAtInstall) {
            cuts.shift();
            log('power cut during the slot write');
            await device.powerCut();
            counts.cuts++;
            counts.cutsDuringSlotWrite++;
            // The agent rolls this update back (the slot was never armed): no boot of a new
            // slot follows, so first-boot cuts planned for it are counted as missed.
            bootsAtInstall = Number.POSITIVE_INFINITY;
            continue;
          }
        }
        if (bootsAtInstall >= 0 && cuts[0] === 'first-boot' && device.boots > bootsAtInstall) {
          // A boot of the new slot: U-Boot, kernel, init, the agent's boot check or commit.
          await sleep(500 + random() * 12_000);
          cuts.shift();
          log(`power cut during boot ${device.boots} (first boots of the new slot)`);
          await device.powerCut();
          counts.cuts++;
          counts.cutsDuringFirstBoot++;
          continue;
        }
        await sleep(500);
      }
      counts.plannedCutsMissed += cuts.length;
      if (!settled) {
        // Not a brick by itself (the end check below decides that): an update that never ended.
        counts.stuck++;
        log(`update ${version}: did not settle within ${UPDATE_TIMEOUT_MS / 60_000} min: counted as stuck`);
        break;
      }
    }
    // Every boot must reach userspace on a slot the boot script chose, and the device its hub.
    await waitFor(
      'the device online at the end',
      async () => ((await fleet.device(deviceId)).online ? true : undefined),
      300_000,
      context,
    ).catch(() => {
      counts.bricks++;
    });
    const devices = await fleet.devices();
    if (devices.length !== 1 || devices[0]?.id !== deviceId) {
      counts.lostPermanentData++;
      log(`identity lost: the hub knows ${devices.length} devices (${devices.map((d) => d.id).join(', ')})`);
    }
  } finally {
    await device.stop();
    counts.boots = device.boots;
    counts.hungBoots = device.hung;
    // What the next mount would see: the data partition with its journal replayed (e2fsck -fy
    // on a copy; exit 1 = corrected, normal after a power cut: free counts are recomputed).
    const data = join(dir, 'data.img');
    const size = fleet.manifest.partitions.find((p) => p.role === 'data')?.size ?? 0;
    await run('dd', [
      `if=${disk}`,
      `of=${data}`,
      'bs=1M',
      `skip=${dataOffset / 2 ** 20}`,
      `count=${size / 2 ** 20}`,
      'conv=sparse',
      'status=none',
    ]);
    const fsck = await run('e2fsck', ['-fy', data]).then(
      () => 0,
      (e: { code?: number }) => e.code ?? 8,
    );
    log(`data partition e2fsck -fy exit ${fsck} (0 clean, 1 journal replayed/counts fixed, >=4 errors left)`);
    if (fsck >= 4) counts.lostPermanentData++;
    const { stdout } = await run('debugfs', ['-R', 'cat /permanent/canary', data], {
      encoding: 'buffer',
      maxBuffer: 4 * 1024 * 1024,
    }).catch(() => ({ stdout: Buffer.alloc(0) }));
    if (createHash('sha256').update(stdout).digest('hex') !== canaryDigest) {
      counts.lostPermanentData++;
      log('the permanent canary on the data partition changed or is gone');
    }
    await rm(data, { force: true });
    await writeFile(join(dir, 'serial.log'), device.log());
    await fleet.stop();
    if (process.env.TORTURE_KEEP) log(`kept ${dir}`);
    else await rm(dir, { recursive: true, force: true });
  }
  process.stdout.write(`${JSON.stringify({ seed: initialSeed, ...counts })}\n`);
  if (counts.bricks > 0 || counts.lostPermanentData > 0 || counts.stuck > 0) exitCode = 1;
  return exitCode;
}

main().then(
  (code) => process.exit(code),
  (e: Error) => {
    process.stderr.write(`torture:qemu: ${e.stack ?? e.message}\n`);
    process.exit(1);
  },
);

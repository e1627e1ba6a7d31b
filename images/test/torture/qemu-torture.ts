// `pnpm --filter @fleet/images torture:qemu`: N system updates of an emulated qemu-aarch64
// device through a real hub, with M power cuts (qemu SIGKILLed, nothing synced) at random
// instants: during the download, during the slot write, in the first boots of the new slot and
// while the agent bakes/commits it. Prints the counts of updates (by outcome), cuts (by phase),
// bricks (a device that does not come back online on a good slot; goal 0) and lost permanent
// data (goal 0): after every cut, with power held off, the data partition is copied, its journal
// replayed (e2fsck -fy) and a canary written before the first boot plus the device's identity
// files are compared with their first reading. Per update it prints where the time went.
// Not part of CI.
//
// Environment: TORTURE_UPDATES (N, default 6), TORTURE_CUTS (M, default 4), TORTURE_SEED,
// TORTURE_PHASES (default "download,slot-write,first-boot,commit": where cuts may fall; the first
// cuts cover each listed phase once, the rest fall at random),
// TORTURE_UPDATE_TIMEOUT_S (default 2700: one update's time to settle before
// it counts as stuck), TORTURE_BOOT_TIMEOUT_S (default 1800: a single boot running longer is
// killed and counted as hung), TORTURE_DATA_MIB (default: the board's size, 640 MiB: the data
// partition grown to this before the first boot), TORTURE_KEEP=1 keeps the scratch directory
// (serial.log).
// The timeouts are generous on purpose: on a shared 2-core host qemu's TCG guest can get a tenth
// of a core, and a 216 MiB download then takes many minutes; a slow device is not a brick.
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { QemuDevice, run, waitFor } from '../../../test/e2e/helpers/qemu-device.js';
import { prepareQemuFleet, type HubUpdateEvent } from '../../../test/e2e/helpers/qemu-fleet.js';
import {
  CUT_PHASES,
  parseTortureOptions,
  planCuts,
  seededRandom,
  type CutPhase,
  type PlannedCut,
} from './plan.js';

const log = (m: string) =>
  process.stderr.write(`torture:qemu ${new Date().toISOString().slice(11, 19)} ${m}\n`);
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const byTime = (a: HubUpdateEvent, b: HubUpdateEvent) => Date.parse(a.at) - Date.parse(b.at);
const TERMINAL = new Set(['succeeded', 'rolled-back', 'failed']);
/** The agent's percent bands (device-agent/src/update/handlers.ts): download 0-45, slot write 60-75. */
const DOWNLOAD_PERCENT = 45;
/** Fallback when no progress above 60 % arrives: a 146 MiB slot write took ~8 s here. */
const SLOT_WRITE_WINDOW_MS = 15_000;
/** Files on the data partition that must survive every cut unchanged. */
const IDENTITY_FILES = [
  '/machine-id',
  '/identity/device.key',
  '/identity/device.pub',
  '/identity/credentials.json',
];

/**
 * Grows the data partition (the last one) of a powered-off disk image to `bytes`: the image
 * file, partition 4 in the MBR (sfdisk), then the ext4 inside it (resize2fs on a copy, written
 * back). Only the space changes; the files the image put there stay as they are.
 */
async function growDataPartition(
  disk: string,
  part: { offset: number; size: number },
  bytes: number,
  dir: string,
) {
  if (bytes <= part.size)
    throw new Error(`TORTURE_DATA_MIB must exceed the board's ${part.size / 2 ** 20} MiB`);
  const end = part.offset + bytes;
  if ((await stat(disk)).size < end) await run('truncate', ['-s', String(end), disk]);
  await run('sh', ['-c', `echo ', ${bytes / 512}' | sfdisk --no-reread --no-tell-kernel -N 4 '${disk}'`]);
  const data = join(dir, 'grow-data.img');
  const mib = 2 ** 20;
  await run('dd', [
    `if=${disk}`,
    `of=${data}`,
    'bs=1M',
    `skip=${part.offset / mib}`,
    `count=${part.size / mib}`,
    'conv=sparse',
    'status=none',
  ]);
  await run('truncate', ['-s', String(bytes), data]);
  await fsck(data, '-fy');
  await run('resize2fs', [data]);
  await run('dd', [
    `if=${data}`,
    `of=${disk}`,
    'bs=1M',
    `seek=${part.offset / mib}`,
    'conv=notrunc,sparse',
    'status=none',
  ]);
  await rm(data, { force: true });
  part.size = bytes;
}

/** e2fsck's exit code (0 clean, 1 fixed: normal after a cut, >= 4 errors left). */
function fsck(image: string, mode: '-fy' | '-fn'): Promise<number> {
  return run('e2fsck', [mode, image]).then(
    () => 0,
    (e: { code?: number }) => e.code ?? 8,
  );
}

async function main(): Promise<number> {
  const opts = parseTortureOptions(process.env);
  const random = seededRandom(opts.seed);
  const dir = await mkdtemp(join(tmpdir(), 'fleet-qemu-torture-'));
  log(
    `scratch ${dir}, ${opts.updates} updates, ${opts.cuts} cuts (${opts.phases.join(', ')}), seed ${opts.seed}`,
  );
  const t0 = Date.now();
  const fleet = await prepareQemuFleet(dir, log);
  const prepareS = Math.round((Date.now() - t0) / 1000);
  const disk = join(dir, 'disk.img');
  await run('cp', ['--sparse=always', fleet.image, disk]);
  const found = fleet.manifest.partitions.find((p) => p.role === 'data');
  if (!found) throw new Error('image has no data partition');
  const dataPart = { ...found };
  const dataFs = `${disk}?offset=${dataPart.offset}`;
  if (opts.dataMiB !== undefined) {
    // The agent keeps the system objects of its rollback history (device-agent app/garbage.ts):
    // on the board's 640 MiB the 4th successful update of a 146 MiB slot finds no space. A
    // bigger partition lets a long run test power cuts instead of that limit.
    await growDataPartition(disk, dataPart, opts.dataMiB * 2 ** 20, dir);
    log(`data partition grown to ${opts.dataMiB} MiB`);
  }

  // Permanent data: a canary on the data partition, put there before the first power-on.
  const canary = randomBytes(1024 * 1024);
  const canaryDigest = createHash('sha256').update(canary).digest('hex');
  await writeFile(join(dir, 'canary'), canary);
  await run('debugfs', ['-w', '-R', 'mkdir /permanent', dataFs]);
  await run('debugfs', ['-w', '-R', `write ${join(dir, 'canary')} /permanent/canary`, dataFs]);

  const plan = planCuts(opts.updates, opts.cuts, opts.phases, random);
  const device = new QemuDevice({
    disk,
    qemuArgs: fleet.qemuArgs,
    network: true,
    bootTimeoutMs: opts.bootTimeoutMs,
  });
  const counts = {
    updates: 0,
    succeeded: 0,
    rolledBack: 0,
    failed: 0,
    cuts: 0,
    cutsByPhase: Object.fromEntries(CUT_PHASES.map((p) => [p, 0])) as Record<CutPhase, number>,
    plannedCutsMissed: 0,
    bricks: 0,
    lostPermanentData: 0,
    dataChecks: 0,
    stuck: 0,
    boots: 0,
    hungBoots: 0,
  };
  const timeline: Record<string, unknown>[] = [];
  const context = () => device.log().slice(-4000);
  let identity: Record<string, string> | undefined;

  /**
   * With the power off: what the next mount sees. The data partition is copied, its journal
   * replayed (e2fsck -fy: exit 1 = corrected, normal after a cut), then the canary and the
   * identity files are read. Returns what was lost (empty: nothing).
   */
  async function checkData(when: string): Promise<string[]> {
    counts.dataChecks++;
    const copy = join(dir, 'data.img');
    await run('dd', [
      `if=${disk}`,
      `of=${copy}`,
      'bs=1M',
      `skip=${dataPart!.offset / 2 ** 20}`,
      `count=${dataPart!.size / 2 ** 20}`,
      'conv=sparse',
      'status=none',
    ]);
    const lost: string[] = [];
    const code = await fsck(copy, '-fy');
    if (code >= 4) lost.push(`e2fsck -fy exit ${code}`);
    const read = async (path: string) =>
      (
        await run('debugfs', ['-R', `cat ${path}`, copy], {
          encoding: 'buffer',
          maxBuffer: 4 * 1024 * 1024,
        }).catch(() => ({ stdout: Buffer.alloc(0) }))
      ).stdout;
    const sha = (b: Buffer) => createHash('sha256').update(b).digest('hex');
    if (sha(await read('/permanent/canary')) !== canaryDigest) lost.push('/permanent/canary');
    // What a resumed download starts from: the agent's partial files that survived the cut.
    const listing = await run('debugfs', ['-R', 'ls -l /tmp/download', copy]).catch(() => ({ stdout: '' }));
    const partials = listing.stdout
      .split('\n')
      .map((l) => /\s(\d+)\s+\S+\s+\S+\s+([0-9a-f]{64}\.partial)\s*$/.exec(l))
      .filter((m) => m !== null)
      .map((m) => `${(Number(m[1]) / 2 ** 20).toFixed(1)} MiB`);
    const now: Record<string, string> = {};
    for (const f of IDENTITY_FILES) {
      const b = await read(f);
      now[f] = b.length === 0 ? '' : sha(b);
    }
    if (!identity) {
      // The first reading after provisioning is the reference (provisioning wrote them once).
      identity = now;
      for (const f of IDENTITY_FILES) if (!now[f]) lost.push(`${f} (missing at the first check)`);
    } else {
      for (const f of IDENTITY_FILES)
        if (now[f] !== identity[f]) lost.push(`${f} (${now[f] ? 'changed' : 'missing'})`);
    }
    await rm(copy, { force: true });
    log(
      `data check ${when}: e2fsck -fy exit ${code}${lost.length ? `, LOST: ${lost.join(', ')}` : ', canary and identity intact'}${partials.length ? `, partial download kept: ${partials.join(', ')}` : ''}`,
    );
    if (lost.length > 0) counts.lostPermanentData++;
    return lost;
  }

  let lastCutAt = 0;
  async function cut(phase: CutPhase, what: string): Promise<void> {
    log(`power cut: ${phase} (${what})`);
    await device.powerCut(true);
    lastCutAt = Date.now();
    counts.cuts++;
    counts.cutsByPhase[phase]++;
    await checkData(`after cut ${counts.cuts}`);
    device.start();
  }

  let exitCode = 0;
  try {
    const bootT0 = Date.now();
    device.start();
    let bootToAgentMs = 20_000;
    let sawAgent = false;
    const first = await waitFor(
      'the device to come online',
      async () => {
        if (!sawAgent && device.currentLog().includes('FLEET: agent starting')) {
          sawAgent = true;
          bootToAgentMs = Date.now() - bootT0;
        }
        return (await fleet.devices()).find((d) => d.online);
      },
      opts.bootTimeoutMs,
      context,
    );
    const deviceId = first.id;
    log(
      `device ${deviceId} online after ${Math.round((Date.now() - bootT0) / 1000)} s (power-on to agent start ${Math.round(bootToAgentMs / 1000)} s)`,
    );
    let sequence = 1;
    for (let u = 0; u < opts.updates; u++) {
      const version = `2.0.${u + 1}`;
      // The factory slot with its own /etc/fleet/release: the real root filesystem (U-Boot loads
      // its kernel, init runs the agent from it), already stripped, journal-less and shrunk.
      const slot = await fleet.variant(join(dir, `rootfs-${version}.ext4`), `qemu-aarch64-${version}`);
      const payloadBytes = (await stat(slot)).size;
      await fleet.abortRollouts();
      sequence++;
      const cuts: PlannedCut[] = [...plan[u]!];
      log(
        `update ${version} (sequence ${sequence}, ${(payloadBytes / 2 ** 20).toFixed(0)} MiB), cuts planned: ${cuts.map((c) => c.phase).join(', ') || 'none'}`,
      );
      const publishedAt = Date.now();
      await fleet.publishSystemRelease(slot, version, sequence, [deviceId]);
      counts.updates++;
      await rm(slot, { force: true });

      let bootsAtInstall = -1;
      let installSeenAt = 0;
      let newBootSeen = -1;
      let newBootAt = 0;
      let resumeWatch = false;
      const deadline = Date.now() + opts.updateTimeoutMs;
      let settled: HubUpdateEvent | undefined;
      let events: HubUpdateEvent[] = [];
      while (Date.now() < deadline) {
        const d = await fleet.device(deviceId).catch(() => undefined);
        events = (await fleet.updates(deviceId).catch(() => [] as HubUpdateEvent[]))
          .filter((e) => e.releaseVersion === version)
          .sort(byTime);
        const terminal = events.find((e) => TERMINAL.has(e.status));
        if (d && terminal && d.updateState === 'idle' && d.online) {
          settled = terminal;
          break;
        }
        const fresh = events.filter((e) => Date.parse(e.at) > lastCutAt);
        const latest = fresh[fresh.length - 1];
        if (resumeWatch && latest?.state === 'downloading' && latest.percent > 0) {
          // The first report with bytes after the restart: a resumed download starts near the
          // share its partial file kept, a restarted one near 0.
          resumeWatch = false;
          log(
            `download after the cut: first report with bytes ${latest.percent}% (of ${DOWNLOAD_PERCENT}), ${Math.round((Date.now() - lastCutAt) / 1000)} s after the cut`,
          );
        }
        // Where the update is: 0 download, 1 slot write, 2 boots of the new slot, 3 bake/commit.
        if (latest?.state === 'installing' && !terminal && bootsAtInstall < 0) {
          bootsAtInstall = device.boots;
          installSeenAt = Date.now();
        }
        if (bootsAtInstall >= 0 && device.boots > bootsAtInstall && newBootSeen !== device.boots) {
          newBootSeen = device.boots;
          newBootAt = Date.now();
        }
        const stage = terminal
          ? 4
          : latest &&
              ['testing', 'committing'].includes(latest.state) &&
              device.boots > bootsAtInstall &&
              bootsAtInstall >= 0
            ? 3
            : bootsAtInstall >= 0 && device.boots > bootsAtInstall
              ? 2
              : latest?.state === 'installing'
                ? 1
                : 0;
        while (cuts[0] && CUT_PHASES.indexOf(cuts[0].phase) < stage) {
          log(`planned ${cuts[0].phase} cut missed (the update moved past it)`);
          counts.plannedCutsMissed++;
          cuts.shift();
        }
        const next = cuts[0];
        if (
          next?.phase === 'download' &&
          latest?.state === 'downloading' &&
          latest.percent >= 2 + next.at * 40
        ) {
          cuts.shift();
          await cut('download', `${latest.percent}% of ${DOWNLOAD_PERCENT} reported`);
          resumeWatch = true;
          continue;
        }
        if (
          next?.phase === 'slot-write' &&
          stage === 1 &&
          latest?.state === 'installing' &&
          // 60-75 while the bytes go in; 75 also covers the fsync and the read-back.
          (latest.percent >= 60 + next.at * 15 || Date.now() - installSeenAt >= SLOT_WRITE_WINDOW_MS)
        ) {
          const again = (await fleet.updates(deviceId).catch(() => [] as HubUpdateEvent[]))
            .filter((e) => e.releaseVersion === version)
            .sort(byTime);
          const last = again[again.length - 1];
          if (last?.state === 'installing' && device.boots === bootsAtInstall) {
            cuts.shift();
            await cut('slot-write', `${last.percent}% (60-75 is the write)`);
            // The agent rolls this update back (the slot was never armed): no new slot boots.
            bootsAtInstall = Number.POSITIVE_INFINITY;
            continue;
          }
        }
        if (
          next?.phase === 'first-boot' &&
          stage === 2 &&
          Date.now() - newBootAt >= 300 + next.at * bootToAgentMs * 1.2
        ) {
          cuts.shift();
          await cut(
            'first-boot',
            `boot ${device.boots}, ${Math.round((Date.now() - newBootAt) / 1000)} s after power-on`,
          );
          continue;
        }
        if (next?.phase === 'commit' && stage === 3) {
          await sleep(next.at * 3000);
          const again = (await fleet.updates(deviceId).catch(() => [] as HubUpdateEvent[])).filter(
            (e) => e.releaseVersion === version,
          );
          if (!again.some((e) => TERMINAL.has(e.status))) {
            cuts.shift();
            await cut('commit', `after '${latest?.state}' was reported`);
            continue;
          }
        }
        await sleep(500);
      }
      counts.plannedCutsMissed += cuts.length;
      for (const c of cuts) log(`planned ${c.phase} cut missed`);
      // Where the time went, from the hub's receipt of each state (a cut lengthens its phase).
      const firstAt = (state: string) => {
        const e = events.find((x) => x.state === state);
        return e ? Date.parse(e.at) : undefined;
      };
      const span = (a?: number, b?: number) =>
        a !== undefined && b !== undefined ? Math.round((b - a) / 1000) : null;
      const tl = {
        version,
        payloadMiB: +(payloadBytes / 2 ** 20).toFixed(1),
        outcome: settled ? `${settled.status}${settled.reason ? ` (${settled.reason})` : ''}` : 'stuck',
        cuts: plan[u]!.map((c) => c.phase),
        totalS: Math.round((Date.now() - publishedAt) / 1000),
        publishToDownloadS: span(publishedAt, firstAt('downloading')),
        downloadS: span(firstAt('downloading'), firstAt('installing')),
        slotWriteS: span(firstAt('installing'), firstAt('rebooting')),
        rebootToTestingS: span(firstAt('rebooting'), firstAt('testing')),
        testingToEndS: span(firstAt('testing'), settled ? Date.parse(settled.at) : undefined),
      };
      timeline.push(tl);
      log(`update ${version}: ${JSON.stringify(tl)}`);
      if (!settled) {
        // Not a brick by itself (the end check below decides that): an update that never ended.
        counts.stuck++;
        log(
          `update ${version}: did not settle within ${opts.updateTimeoutMs / 60_000} min: counted as stuck`,
        );
        break;
      }
      if (settled.status === 'succeeded') counts.succeeded++;
      else if (settled.status === 'rolled-back') counts.rolledBack++;
      else counts.failed++;
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
    await checkData('at the end').catch((e: Error) => log(`final data check failed: ${e.message}`));
    await writeFile(join(dir, 'serial.log'), device.log());
    await fleet.stop();
    if (opts.keep) log(`kept ${dir}`);
    else await rm(dir, { recursive: true, force: true });
  }
  const totalS = Math.round((Date.now() - t0) / 1000);
  process.stdout.write(`${JSON.stringify({ seed: opts.seed, ...counts, prepareS, totalS, timeline })}\n`);
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

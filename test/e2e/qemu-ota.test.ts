// The qemu proof of issue #8, end to end: a real hub on the host, a built qemu-aarch64 image
// booted by U-Boot in qemu-system-aarch64 with user-mode networking (the guest reaches the
// host's loopback as 10.0.2.2). One emulated device lives through every step, so boots are
// shared: it provisions with its claim token and reports online; a system release is cut off
// (qemu SIGKILLed) while the agent writes slot B, the device boots the good slot A again and
// reports the failed install; the operator's forced retry writes B, a power cut in B's first
// boot costs one try, the next boot commits; a release whose kernel does not boot makes U-Boot
// fall back after bootlimit and the device reports the rollback with reason boot-failed; the
// agent pets the board's hardware watchdog (qemu's i6300esb) and a frozen agent gets the board
// reset. Needs root, qemu-system-arm, u-boot-qemu, g++-aarch64-linux-gnu, Postgres on
// 127.0.0.1:5432; the agent bundle is rebuilt from source. About 10 minutes on an idle host.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { QemuDevice, readBootEnv, run, sha256Range, waitFor } from './helpers/qemu-device.js';
import { prepareQemuFleet, type QemuFleet } from './helpers/qemu-fleet.js';

let dir: string;
let fleet: QemuFleet;
let device: QemuDevice;
let deviceId: string;
let disk: string;

const context = () =>
  `--- serial ---\n${device?.log().slice(-8000) ?? ''}\n--- hub ---\n${fleet?.hub.output().slice(-3000) ?? ''}`;

/** Serial output of the boots after the first `n`. */
const bootsAfter = (n: number) =>
  device
    .log()
    .split(/----- boot \d+ -----/)
    .slice(n + 1)
    .join('\n');

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'fleet-qemu-ota-'));
  fleet = await prepareQemuFleet(dir);
  disk = join(dir, 'disk.img');
  await run('cp', ['--sparse=always', fleet.image, disk]);
  // No hung-boot kill: on a loaded host one boot (a 216 MiB download under TCG) can take far
  // longer than the helper's default; every step below has its own deadline.
  device = new QemuDevice({ disk, qemuArgs: fleet.qemuArgs, network: true, bootTimeoutMs: 4 * 3600_000 });
}, 1_800_000);

afterAll(async () => {
  await device?.stop();
  if (process.env.FLEET_E2E_KEEP_LOG)
    await writeFile(process.env.FLEET_E2E_KEEP_LOG, device?.log() ?? '').catch(() => {});
  await fleet?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe('qemu-aarch64 device with a hub on the host', () => {
  it('provisions with its claim token and reports online', async () => {
    device.start();
    // A fresh database: the only device is ours.
    const found = await waitFor(
      'the device to provision and come online',
      async () => (await fleet.devices()).find((d) => d.online),
      2_400_000,
      context,
    );
    deviceId = found.id;
    expect(found.currentSequence).toBeNull();
    await device.waitForLog(/FLEET: userspace slot=A release=qemu-aarch64-factory/, { timeoutMs: 1000 });
  }, 3_600_000);

  it('a power cut while it writes the inactive slot leaves it booting the good slot A, and it reports the failed install', async () => {
    const v2 = await fleet.variant(join(dir, 'rootfs-v2.ext4'), 'qemu-aarch64-1.1.0');
    const manifest = await fleet.publishSystemRelease(v2, '1.1.0', 2, [deviceId]);
    expect(manifest.system?.rootfs?.slot).toBe('ab');
    const object = manifest.system!.rootfs!;
    // The agent reports installing at 60 % when the write starts and 60-75 % per MiB written
    // (read-back verification and arming come after 75 %). The first report past 60 % means
    // bytes are going into slot B right now: pull the plug (SIGKILL, the guest syncs nothing).
    const writing = await waitFor(
      'the device to report bytes written into slot B',
      async () => {
        const events = (await fleet.updates(deviceId)).filter((e) => e.releaseVersion === '1.1.0');
        if (events.some((e) => e.percent >= 75))
          throw new Error('the slot write ended before the harness saw it in progress');
        return events.find((e) => e.state === 'installing' && e.percent > 60);
      },
      2_400_000,
      context,
      100,
    );
    const bootsBefore = device.boots;
    await device.powerCut(true);
    expect(writing.percent).toBeLessThan(75);

    // What the cut left on the disk: slot B does not hold the release (the write was torn),
    // and the boot env still boots the committed slot A with nothing on trial.
    const slotB = fleet.manifest.partitions.find((p) => p.role === 'rootfs-b')!;
    expect(`sha256:${await sha256Range(disk, slotB.offset, object.size)}`).not.toBe(object.digest);
    expect(await readBootEnv(disk, fleet.board.bootState, dir)).toMatchObject({
      boot_slot: 'A',
      upgrade_available: '0',
    });

    device.start();
    const back = await waitFor(
      'the device to come back and report the interrupted install',
      async () => {
        const d = await fleet.device(deviceId);
        return d.updateStatus === 'rolled-back' && d.updateState === 'idle' && d.online ? d : undefined;
      },
      2_400_000,
      context,
      2000,
    );
    expect(back.updateReason).toBe('install-failed');
    expect(back.currentSequence).toBeNull();
    const log = bootsAfter(bootsBefore);
    expect(log).toMatch(/FLEET: slot=A rootpart=2 upgrade_available=0 bootcount=0/);
    expect(log).toMatch(/FLEET: userspace slot=A release=qemu-aarch64-factory/);
    expect(log).not.toMatch(/FLEET: (userspace )?slot=B/);
    const events = await fleet.updates(deviceId);
    expect(
      events.some(
        (e) => e.releaseVersion === '1.1.0' && e.status === 'rolled-back' && e.reason === 'install-failed',
      ),
    ).toBe(true);
  }, 3_600_000);

  it('the retried release is written to slot B, survives a power cut in its first boot, commits and is reported', async () => {
    // The failed release is never resent by itself (the device lists it in failedRevisions):
    // the operator retries it with a forced rollout once the first one stopped on the failure.
    await fleet.abortRollouts();
    const bootsBefore = device.boots;
    await fleet.startRollout('1.1.0', [deviceId], { force: true });
    // The first boot of slot B: U-Boot counted the try (bootcount=1, saved) and the agent is
    // starting to check the boot: pull the plug before it commits.
    await waitFor(
      'the first boot of slot B to reach the agent',
      async () =>
        device.boots > bootsBefore &&
        /FLEET: slot=B rootpart=3 upgrade_available=1 bootcount=1\b/.test(device.currentLog()) &&
        /FLEET: agent starting/.test(device.currentLog())
          ? true
          : undefined,
      2_400_000,
      context,
      200,
    );
    const cutBoot = device.boots;
    await device.powerCut();
    const done = await waitFor(
      'the device to commit 1.1.0',
      async () => {
        const d = await fleet.device(deviceId);
        if (d.updateStatus === 'failed' || (d.updateStatus === 'rolled-back' && d.updateState === 'idle'))
          throw new Error(`update ended ${d.updateStatus}: ${d.updateReason}`);
        return d.currentSequence === 2 && d.updateState === 'idle' && d.online ? d : undefined;
      },
      2_400_000,
      context,
      2000,
    );
    expect(done.currentSequence).toBe(2);
    // The boot after the cut is the second try of B (below bootlimit), which commits.
    const log = bootsAfter(cutBoot);
    expect(log).toMatch(/FLEET: slot=B rootpart=3 upgrade_available=1 bootcount=2\b/);
    expect(log).toMatch(/FLEET: userspace slot=B release=qemu-aarch64-1\.1\.0/);
    expect(log).not.toMatch(/FLEET: (userspace )?slot=A/);
    const events = await fleet.updates(deviceId);
    expect(events.some((e) => e.releaseVersion === '1.1.0' && e.status === 'succeeded')).toBe(true);
  }, 3_600_000);

  it('a release with a broken kernel falls back after bootlimit and is reported rolled back (boot-failed)', async () => {
    const broken = await fleet.variant(join(dir, 'rootfs-broken.ext4'), 'qemu-aarch64-1.2.0', {
      brokenKernel: true,
    });
    // The 1.1.0 rollout must have finished before the fleet takes another.
    await waitFor(
      'the 1.1.0 rollout to finish',
      async () => {
        const page = await fleet.hub.api<{ items: { state: string }[] }>(
          'GET',
          `/rollouts?fleet=${encodeURIComponent(fleet.fleetName)}`,
        );
        return page.items.every((r) => r.state !== 'running' && r.state !== 'paused') ? true : undefined;
      },
      600_000,
      context,
    );
    const bootsBefore = device.boots;
    await fleet.publishSystemRelease(broken, '1.2.0', 3, [deviceId]);
    const rolledBack = await waitFor(
      'the device to report the rollback',
      async () => {
        const d = await fleet.device(deviceId);
        return d.updateStatus === 'rolled-back' && d.updateState === 'idle' && d.online ? d : undefined;
      },
      2_400_000,
      context,
      2000,
    );
    expect(rolledBack.updateReason).toBe('boot-failed');
    expect(rolledBack.currentSequence).toBe(2);
    // U-Boot tried slot A bootlimit times with the garbage kernel, then went back to B.
    const log = bootsAfter(bootsBefore);
    expect(log.match(/FLEET: slot A did not boot: reset/g)?.length).toBe(fleet.board.bootState.bootlimit);
    expect(log).toMatch(/falling back from slot A/);
    expect(log).toMatch(/FLEET: userspace slot=B release=qemu-aarch64-1\.1\.0/);
    expect(log).not.toMatch(/release=qemu-aarch64-1\.2\.0/);
    const events = await fleet.updates(deviceId);
    expect(
      events.some(
        (e) => e.releaseVersion === '1.2.0' && e.status === 'rolled-back' && e.reason === 'boot-failed',
      ),
    ).toBe(true);
  }, 3_600_000);
  it('the agent pets the board watchdog; frozen (SIGSTOP), the watchdog resets the board, which comes back on its committed slot', async () => {
    if (!fleet.board.watchdog) throw new Error('the qemu-aarch64 board declares no watchdog');
    // The image arms the board's timeout (60 s); the proof shortens it on this device so the
    // wait stays short: the agent's config on the data partition is edited from the console
    // shell and the agent restarted (it closes the watchdog with the magic character on
    // SIGTERM; init respawns it and it opens the watchdog with the new timeout). Not shorter
    // than 30 s: a busy agent on a starved TCG guest (a download) missed a 15 s one.
    const timeout = 30;
    // The driver splits the timeout over the i6300esb's two stages: the reset comes `timeout`
    // seconds after the last pet. Staying up for twice that while active proves the pets.
    const fullTimeout = 2 * timeout;
    const boot = device.boots;
    const cuts = device.cuts;
    const shell = async (command: string, marker: RegExp, timeoutMs = 600_000) => {
      device.type(`${command}\n`);
      await device.waitForLog(marker, { fromBoot: boot, timeoutMs });
    };
    // busybox init's askfirst shell on the serial line: Enter activates it. Markers are built
    // by the shell ($((1+1))) so the echo of the typed line never matches them.
    await waitFor(
      'the console shell',
      async () => {
        if (/SHELL-2/.test(device.currentLog())) return true;
        device.type('\necho "SHELL-$((1+1))"\n');
        return undefined;
      },
      600_000,
      context,
      3000,
    );
    const agentsUp = () => device.currentLog().match(/agent up/g)?.length ?? 0;
    const upBefore = agentsUp();
    await shell(
      `sed -i 's/"timeoutSeconds": *[0-9]*/"timeoutSeconds": ${timeout}/' /storage/agent.json && ` +
        `kill $(pidof node) && echo "WD-RESTART-$((1+1))"`,
      /WD-RESTART-2/,
    );
    await waitFor(
      'the agent to start again',
      async () => (agentsUp() > upBefore ? true : undefined),
      300_000,
      context,
      1000,
    );
    await shell(
      'echo "WD-STATE-$((1+1)) $(cat /sys/class/watchdog/watchdog0/state) $(cat /sys/class/watchdog/watchdog0/timeout)"',
      new RegExp(`WD-STATE-2 active ${timeout}\\b`),
    );
    // Longer than the full timeout with the watchdog active and no reset: the agent pets it.
    await shell(
      `sleep ${fullTimeout + 15}; echo "WD-ALIVE-$((1+1)) $(cat /sys/class/watchdog/watchdog0/state)"`,
      /WD-ALIVE-2 active/,
      (fullTimeout + 120) * 1000,
    );
    expect(device.boots).toBe(boot);

    // Freeze the agent: its process stays, its pets stop.
    await shell('kill -STOP $(pidof node) && echo "WD-FROZEN-$((1+1))"', /WD-FROZEN-2/);
    await waitFor(
      'the watchdog to reset the board',
      async () => (device.boots > boot ? true : undefined),
      (fullTimeout + 120) * 1000,
      context,
      500,
    );
    // qemu ended by itself (-no-reboot turns the watchdog's reset into an exit): not a harness
    // cut, not a guest-initiated reboot or a panic.
    expect(device.cuts).toBe(cuts);
    const afterFreeze = device.bootLog(boot).split('WD-FROZEN-2').slice(1).join('');
    expect(afterFreeze).not.toMatch(
      /reboot: Restarting system|reboot: Power down|Kernel panic|FLEET: agent exited/,
    );
    const back = await waitFor(
      'the device online again after the watchdog reset',
      async () => {
        const d = await fleet.device(deviceId);
        // online as seen once the agent of the new boot is up, not the frozen agent's state
        return device.boots > boot && /agent up/.test(device.currentLog()) && d.online ? d : undefined;
      },
      2_400_000,
      context,
      2000,
    );
    expect(back.currentSequence).toBe(2);
    expect(bootsAfter(boot)).toMatch(/FLEET: userspace slot=B release=qemu-aarch64-1\.1\.0/);
  }, 3_600_000);
});

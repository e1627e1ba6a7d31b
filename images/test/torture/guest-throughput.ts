// `pnpm --filter @fleet/images measure:update-path <image out dir>`: where a system update's
// time goes inside the emulated guest, without hub or agent. Boots a scratch copy of a built
// qemu-aarch64 image once per qemu profile with `fleet.test=script`; the guest runs
// guest-update-path.mjs (the agent's download / store / slot-write steps, each timed) against a
// plain HTTP server on the host that serves the image's own slot image (the object of a system
// release). Prints one JSON line per profile: boot time to userspace, each step's ms and MiB/s,
// qemu's CPU seconds (all threads) over the wall time, the host load.
//
// MEASURE_PROFILES (default "tcg1,mttcg2"): which qemu settings to compare, names from PROFILES;
// MEASURE_OBJECT: the file served as the object (default: the image's slot image);
// MEASURE_TIMEOUT_S (default 900): one boot's limit.
import { createReadStream } from 'node:fs';
import { readFile, readdir, rm, stat, writeFile, mkdtemp } from 'node:fs/promises';
import { createServer } from 'node:http';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { spawn, execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { loadBoard, qemuArgs } from '@fleet/board-support';

const run = promisify(execFile);
const HERE = fileURLToPath(new URL('.', import.meta.url));

/** qemu settings compared; none of them touches the disk's cache mode (power-cut semantics). */
export const PROFILES: Record<string, string[]> = {
  // The board as the e2e test boots it: one vCPU, TCG in its own thread.
  tcg1: [],
  // Two vCPUs, one host thread each (MTTCG): the guest's network softirq, Node's main thread and
  // libuv's file writes can run at once.
  mttcg2: ['-smp', '2', '-accel', 'tcg,thread=multi'],
  // virtio-rng: the guest's entropy pool is ready at once (Node's startup reads getrandom).
  rng: ['-device', 'virtio-rng-pci'],
};

function cpuSeconds(pid: number): Promise<number> {
  return readFile(`/proc/${pid}/stat`, 'utf8').then(
    (s) => {
      const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
      return (Number(f[11]) + Number(f[12])) / 100; // utime + stime, clock ticks of 10 ms
    },
    () => NaN,
  );
}

async function main(): Promise<void> {
  const outDir = process.argv[2];
  if (!outDir) throw new Error('usage: guest-throughput.ts <fleet-image build --out dir> (qemu-aarch64)');
  const files = await readdir(outDir);
  const manifestFile = files.find((f) => f.endsWith('.manifest.json'));
  if (!manifestFile) throw new Error(`${outDir} holds no fleet-image manifest`);
  const manifest = JSON.parse(await readFile(join(outDir, manifestFile), 'utf8')) as {
    board: string | { name: string };
    rootfs: { file: string };
    partitions: { role: string; offset: number }[];
  };
  const boardName = typeof manifest.board === 'string' ? manifest.board : manifest.board.name;
  const board = await loadBoard(boardName);
  const profiles = (process.env.MEASURE_PROFILES ?? 'tcg1,mttcg2').split(',').map((p) => p.trim());
  for (const p of profiles)
    if (!PROFILES[p]) throw new Error(`unknown profile ${p} (known: ${Object.keys(PROFILES).join(', ')})`);
  // MEASURE_OBJECT: serve another file instead (e.g. the torture's small slot image).
  const object = resolve(process.env.MEASURE_OBJECT ?? join(outDir, manifest.rootfs.file));
  const size = (await stat(object)).size;
  const image = resolve(
    outDir,
    files.find((f) => f.endsWith('.img'))!,
  );
  const offsetOf = (role: string) => {
    const o = manifest.partitions.find((p) => p.role === role)?.offset;
    if (o === undefined) throw new Error(`image has no ${role} partition`);
    return o;
  };

  const server = createServer((req, res) => {
    res.writeHead(200, { 'content-length': String(size), 'content-type': 'application/octet-stream' });
    createReadStream(object).pipe(res);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as { port: number }).port;
  const dir = await mkdtemp(join(tmpdir(), 'fleet-guest-throughput-'));
  try {
    for (const profile of profiles) {
      const disk = join(dir, 'disk.img');
      await run('cp', ['--sparse=always', image, disk]);
      const data = `${disk}?offset=${offsetOf('data')}`;
      await writeFile(
        join(dir, 'fleet-test.sh'),
        `echo "MEASURE {\\"step\\":\\"nproc\\",\\"n\\":$(nproc)}"\n` +
          `node /storage/guest-update-path.mjs http://10.0.2.2:${port}/object ${size} /storage/object.partial /dev/vda3\n`,
      );
      await run('debugfs', ['-w', '-R', `write ${join(dir, 'fleet-test.sh')} fleet-test.sh`, data]);
      await run('debugfs', [
        '-w',
        '-R',
        `write ${join(HERE, 'guest-update-path.mjs')} guest-update-path.mjs`,
        data,
      ]);
      const envConfig = join(dir, 'fw_env.config');
      await writeFile(
        envConfig,
        board.bootState.offsets
          // libubootenv reads these as hex only (decimal offsets: 'Cannot read environment').
          .map((o) => `${disk} 0x${o.toString(16)} 0x${board.bootState.envSize.toString(16)}\n`)
          .join(''),
      );
      await run('fw_setenv', ['-c', envConfig, 'fleet_args', 'fleet.test=script']);

      const args = qemuArgs(board, {
        disk,
        extraArgs: [
          '-netdev',
          'user,id=n0',
          '-device',
          'virtio-net-pci,netdev=n0,romfile=',
          ...PROFILES[profile]!,
        ],
      });
      const load0 = loadavg()[0]!;
      const t0 = Date.now();
      const child = spawn('qemu-system-aarch64', args, { stdio: ['ignore', 'pipe', 'pipe'] });
      let log = '';
      let userspaceMs: number | undefined;
      let lastCpu = 0;
      const onData = (b: Buffer) => {
        log += b.toString('latin1');
        if (userspaceMs === undefined && log.includes('FLEET: userspace')) userspaceMs = Date.now() - t0;
      };
      child.stdout.on('data', onData);
      child.stderr.on('data', onData);
      const sampler = setInterval(() => {
        void cpuSeconds(child.pid!).then((c) => {
          if (!Number.isNaN(c)) lastCpu = c;
        });
      }, 500);
      const timer = setTimeout(
        () => child.kill('SIGKILL'),
        Number(process.env.MEASURE_TIMEOUT_S ?? 900) * 1000,
      );
      await new Promise<void>((r) => child.once('close', () => r()));
      clearTimeout(timer);
      clearInterval(sampler);
      const wallMs = Date.now() - t0;
      const steps = [...log.matchAll(/MEASURE (\{.*\})/g)].map(
        (m) => JSON.parse(m[1]!) as Record<string, unknown>,
      );
      const result = {
        profile,
        qemuExtra: PROFILES[profile]!.join(' '),
        objectMiB: +(size / 2 ** 20).toFixed(1),
        userspaceS: userspaceMs === undefined ? null : +(userspaceMs / 1000).toFixed(1),
        wallS: +(wallMs / 1000).toFixed(1),
        qemuCpuS: lastCpu,
        qemuCores: +(lastCpu / (wallMs / 1000)).toFixed(2),
        load: [+load0.toFixed(1), +loadavg()[0]!.toFixed(1)],
        steps,
      };
      process.stdout.write(`${JSON.stringify(result)}\n`);
      if (!steps.some((s) => s.step === 'done'))
        process.stderr.write(`${profile}: incomplete, serial tail:\n${log.slice(-3000)}\n`);
      await rm(disk, { force: true });
    }
  } finally {
    server.close();
    await rm(dir, { recursive: true, force: true });
  }
}

main().catch((e: Error) => {
  process.stderr.write(`guest-throughput: ${e.stack ?? e.message}\n`);
  process.exit(1);
});

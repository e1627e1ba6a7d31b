import { createHash } from 'node:crypto';
import {
  chmod,
  copyFile,
  cp,
  lstat,
  mkdir,
  readFile,
  readdir,
  rename,
  rm,
  stat,
  symlink,
  writeFile,
} from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { build as esbuild } from 'esbuild';
import type { BoardDefinition } from '@fleet/board-support';
import {
  BOOT_CONTROL_ENTRY,
  boardDir,
  fwEnvConfigFor,
  mkimageScript,
  partitionDevice,
} from '@fleet/board-support';
import { UbootEnvStore, abStateToEnv, formatFwEnvConfig } from '@fleet/board-support/boot';
import { parseAgentConfig } from '@fleet/protocol';
import type { AgentConfigInput, TrustRoot } from '@fleet/protocol';
import { DEFAULT_AGENT_BUNDLE, hasAgentBundle, installAgentBundle } from './agent-bundle.js';
import { cpioNewc } from './cpio.js';
import type { CpioEntry } from './cpio.js';
import { createDisk, writeAt } from './disk.js';
import { run } from './exec.js';
import { fetchDebs, fetchNpmPackage, resolveMetapackage, sha256File } from './fetch.js';
import type { FetchedDeb } from './fetch.js';
import { makeExt4, makeVfat, normalizeTree, stableUuid } from './filesystems.js';
import { ImageManifest } from './manifest.js';
import { parseModuleIndex, resolveModules } from './module-deps.js';
import { agentRun, initramfsInit, inittab, rcS, rcShutdown, udhcpcScript } from './system-files.js';
import {
  AGENT_RUNTIME_DEBS,
  DEFAULT_EPOCH,
  NODE_PACKAGE,
  NODE_RUNTIME_DEBS,
  NODE_STRIP,
  NODE_VERSION,
  SYSTEM_DEBS,
} from './versions.js';

export interface BuildOptions {
  board: BoardDefinition;
  hubUrl: string;
  claimToken: string;
  /** A factory release directory copied to /storage/factory (TODO(#8): imported by the agent on first boot). */
  factoryDir?: string;
  outDir: string;
  cacheDir: string;
  /**
   * The agent bundle directory to install at /opt/fleet/agent, or 'auto'
   * (device-agent/dist/bundle when it was built), or 'none' (the init idles).
   */
  agent?:
    | 'auto'
    | 'none'
    | { bundleDir: string }
    | { /** @deprecated a bundle dir or its fleet-agent.mjs */ entry: string };
  /** Release signing keys the device trusts (the agent config's trustRoots). */
  trustRoots?: TrustRoot[];
  /** Image base name; default fleet-<board>. */
  name?: string;
  sourceDateEpoch?: number;
  /** Release string written to /etc/fleet/release. */
  release?: string;
  signal?: AbortSignal;
  log?: (message: string) => void;
}

export interface BuildResult {
  image: string;
  bmap: string;
  sha256File: string;
  manifestPath: string;
  manifest: ImageManifest;
}

async function extractDeb(deb: FetchedDeb, dest: string): Promise<void> {
  await run('dpkg-deb', ['-x', deb.path, dest]);
}

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

/** Kernel package extracted once per version into the cache, with depmod run on it. */
async function kernelTree(
  kernelDeb: FetchedDeb,
  cacheDir: string,
): Promise<{ root: string; release: string }> {
  const release = kernelDeb.name.replace(/^linux-image-/, '');
  const root = join(cacheDir, 'kernel', `${kernelDeb.name}_${kernelDeb.version}`);
  const marker = join(root, '.fleet-complete');
  if (!(await exists(marker))) {
    // Extract beside the final place and rename: a concurrent or interrupted build never
    // sees a half-extracted tree.
    const tmp = `${root}.tmp-${process.pid}`;
    await rm(tmp, { recursive: true, force: true });
    await mkdir(tmp, { recursive: true });
    await extractDeb(kernelDeb, tmp);
    await run('depmod', ['-b', tmp, release]);
    await writeFile(join(tmp, '.fleet-complete'), `${kernelDeb.sha256}\n`);
    if (await exists(marker)) {
      await rm(tmp, { recursive: true, force: true }); // another build finished first
    } else {
      await rm(root, { recursive: true, force: true }); // leftovers without a marker
      await rename(tmp, root);
    }
  }
  return { root, release };
}

function sortByName<T extends { name: string }>(list: T[]): T[] {
  return [...list].sort((a, b) => (a.name < b.name ? -1 : 1));
}

export async function buildImage(options: BuildOptions): Promise<BuildResult> {
  const { board, signal } = options;
  const log = options.log ?? (() => {});
  const epoch = options.sourceDateEpoch ?? DEFAULT_EPOCH;
  const name = options.name ?? `fleet-${board.name}`;
  const release = options.release ?? `${board.name}-factory`;
  const arch = board.debArch;

  const agentConfigInput: AgentConfigInput = {
    hubUrl: options.hubUrl,
    claimToken: options.claimToken,
    trustRoots: options.trustRoots ?? [],
    board: board.name,
    storageDir: '/storage',
    bootControl: 'uboot-env',
    // The uboot-env backend's devices come from the board definition, like the boot script's.
    uboot: {
      slotA: partitionDevice(board, 'rootfs-a'),
      slotB: partitionDevice(board, 'rootfs-b'),
      fwEnvConfig: '/etc/fw_env.config',
    },
    // The board's hardware watchdog: a hung agent (or kernel) resets the board.
    ...(board.watchdog ? { watchdog: { ...board.watchdog } } : {}),
  };
  const agentConfig = parseAgentConfig(agentConfigInput);
  if (!agentConfig.ok) {
    throw new Error(
      `invalid provisioning config: ${agentConfig.error.issues.map((i) => `${i.path}: ${i.message}`).join('; ')}`,
    );
  }
  if (
    options.factoryDir &&
    !(await stat(options.factoryDir).then(
      (s) => s.isDirectory(),
      () => false,
    ))
  ) {
    throw new Error(`--factory ${options.factoryDir} is not a directory`);
  }

  await mkdir(options.outDir, { recursive: true });
  const work = join(options.outDir, `.work-${name}`);
  await rm(work, { recursive: true, force: true });
  await mkdir(work, { recursive: true });

  // 1. Inputs: .debs from the archive, Node from npm, all cached.
  log('fetching packages');
  const kernelPackage = await resolveMetapackage(board.kernel.metapackage, arch, 'linux-image-', signal);
  const bootDebs = [
    ...(board.bootloader.source.kind === 'boot-partition' ? [board.bootloader.source.file] : []),
    ...board.bootPartitionFiles,
  ].map((f) => ({ name: f.deb, arch: f.debArch ?? arch }));
  const systemDebs = [...SYSTEM_DEBS, ...NODE_RUNTIME_DEBS, ...AGENT_RUNTIME_DEBS, kernelPackage].map(
    (name) => ({ name, arch }),
  );
  const debs = await fetchDebs([...systemDebs, ...bootDebs], options.cacheDir, signal);
  const deb = (n: string): FetchedDeb => {
    const found = debs.find((d) => d.name === n);
    if (!found) throw new Error(`internal: ${n} not fetched`);
    return found;
  };
  const node = await fetchNpmPackage(NODE_PACKAGE, NODE_VERSION, options.cacheDir, signal);

  // 2. Kernel and the modules the board needs.
  log(`kernel ${kernelPackage}`);
  const kernel = await kernelTree(deb(kernelPackage), options.cacheDir);
  const modDir = join(kernel.root, 'lib/modules', kernel.release);
  const modIndex = parseModuleIndex(
    await readFile(join(modDir, 'modules.dep'), 'utf8'),
    await readFile(join(modDir, 'modules.builtin'), 'utf8'),
  );
  const modules = resolveModules(modIndex, board.kernel.modules);

  // 3. initramfs: busybox + modules + /init, as a reproducible cpio.
  log('initramfs');
  const busyboxRoot = join(work, 'busybox');
  await extractDeb(deb('busybox-static'), busyboxRoot);
  const busybox = await readFile(join(busyboxRoot, 'bin/busybox'));
  const initrdEntries: CpioEntry[] = [
    { kind: 'dir', path: 'bin' },
    { kind: 'file', path: 'bin/busybox', data: busybox, mode: 0o755 },
    { kind: 'dir', path: 'etc' },
    { kind: 'file', path: 'etc/modules.load', data: Buffer.from(`${modules.join('\n')}\n`) },
    { kind: 'file', path: 'init', data: Buffer.from(initramfsInit()), mode: 0o755 },
    { kind: 'dir', path: 'lib' },
    { kind: 'dir', path: 'lib/modules' },
  ];
  const modDirs = new Set<string>();
  for (const mod of modules) {
    const parts = mod.split('/').slice(0, -1);
    for (let i = 1; i <= parts.length; i++) {
      const d = `lib/modules/${parts.slice(0, i).join('/')}`;
      if (!modDirs.has(d)) {
        modDirs.add(d);
        initrdEntries.push({ kind: 'dir', path: d });
      }
    }
    initrdEntries.push({ kind: 'file', path: `lib/modules/${mod}`, data: await readFile(join(modDir, mod)) });
  }
  const initrd = gzipSync(cpioNewc(initrdEntries, epoch), { level: 9 });

  // 4. Root filesystem (one image, written to both slots).
  log('root filesystem');
  const root = join(work, 'rootfs');
  await mkdir(root, { recursive: true });
  for (const d of [...NODE_RUNTIME_DEBS, ...AGENT_RUNTIME_DEBS, 'busybox-static'])
    await extractDeb(deb(d), root);
  await rm(join(root, 'usr/share'), { recursive: true, force: true });
  await rm(join(root, 'usr/lib/aarch64-linux-gnu/gconv'), { recursive: true, force: true });
  await rm(join(root, 'etc/ld.so.conf.d'), { recursive: true, force: true });
  for (const d of [
    'proc',
    'sys',
    'dev',
    'tmp',
    'run',
    'storage',
    'boot',
    'mnt',
    'root',
    'sbin',
    'usr/bin',
    'usr/sbin',
    'etc/fleet',
    'opt/fleet/agent',
    'var',
  ]) {
    await mkdir(join(root, d), { recursive: true });
  }
  // busybox applets as symlinks; the list comes from the arm64 binary itself (qemu-user).
  const { stdout: applets } = await run('qemu-aarch64-static', [join(root, 'bin/busybox'), '--list-full']);
  for (const applet of applets.split('\n').filter(Boolean).sort()) {
    if (!(await exists(join(root, applet))) && !(await lstatSafe(join(root, applet)))) {
      await mkdir(dirname(join(root, applet)), { recursive: true });
      await symlink('/bin/busybox', join(root, applet));
    }
  }
  await rm(join(root, 'sbin/init'), { force: true });
  await symlink('/bin/busybox', join(root, 'sbin/init'));
  await run('tar', ['-xzf', node.path, '-C', work, 'package/bin/node']);
  await copyFile(join(work, 'package/bin/node'), join(root, 'usr/bin/node'));
  // The official binary carries its symbol table (99 -> 85 MB stripped); every system update
  // downloads the slot, so the device pays for those bytes on each one. Crash stacks from
  // node are still symbolised by V8 for JavaScript frames.
  await run(NODE_STRIP, [join(root, 'usr/bin/node')]);
  await chmod(join(root, 'usr/bin/node'), 0o755);
  await copyFile(join(kernel.root, `boot/vmlinuz-${kernel.release}`), join(root, 'boot/Image'));
  await writeFile(join(root, 'boot/initrd.img'), initrd);

  const etc = (p: string) => join(root, 'etc', p);
  await writeFile(etc('inittab'), inittab(board));
  await writeFile(etc('hostname'), `fleet-${board.name}\n`);
  await writeFile(etc('passwd'), 'root:x:0:0:root:/root:/bin/sh\n');
  await writeFile(etc('group'), 'root:x:0:\n');
  await writeFile(etc('fleet/rcS'), rcS(board), { mode: 0o755 });
  await writeFile(etc('fleet/agent-run'), agentRun(), { mode: 0o755 });
  await writeFile(etc('fleet/rc-shutdown'), rcShutdown(), { mode: 0o755 });
  await writeFile(etc('fleet/udhcpc.script'), udhcpcScript(), { mode: 0o755 });
  await writeFile(etc('fleet/release'), `${release}\n`);
  await writeFile(etc('fleet/board.json'), `${JSON.stringify(board, null, 2)}\n`);
  await writeFile(etc('fw_env.config'), formatFwEnvConfig(fwEnvConfigFor(board)));
  // Provisioning lives on the data partition: a system update replaces the slot, not this.
  await symlink('/storage/agent.json', etc('fleet/agent.json'));
  await symlink('/storage/machine-id', etc('machine-id'));
  for (const f of ['rcS', 'agent-run', 'rc-shutdown', 'udhcpc.script']) await chmod(etc(`fleet/${f}`), 0o755);

  // The boot-control contract CLI and (when there is one) the agent, bundled for Node.
  const bundle = async (entry: string, outfile: string) => {
    await esbuild({
      entryPoints: [entry],
      outfile,
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      legalComments: 'none',
      logLevel: 'silent',
      conditions: ['fleet-source'],
      banner: {
        js: "import { createRequire as __fleetCreateRequire } from 'node:module'; const require = __fleetCreateRequire(import.meta.url);",
      },
    });
  };
  await bundle(BOOT_CONTROL_ENTRY, join(root, 'opt/fleet/boot-control.mjs'));
  await copyFile(join(boardDir(board.name), 'boot-control'), join(root, 'usr/sbin/boot-control'));
  await chmod(join(root, 'usr/sbin/boot-control'), 0o755);
  const agentChoice = options.agent ?? 'auto';
  let agentBundle: string | undefined;
  if (agentChoice === 'auto')
    agentBundle = (await hasAgentBundle(DEFAULT_AGENT_BUNDLE)) ? DEFAULT_AGENT_BUNDLE : undefined;
  else if (agentChoice !== 'none') {
    const path = 'bundleDir' in agentChoice ? agentChoice.bundleDir : agentChoice.entry;
    agentBundle = path.endsWith('.mjs') ? dirname(path) : path;
  }
  if (agentBundle) {
    log(`agent bundle from ${agentBundle} (native addon cross-built for ${arch})`);
    await installAgentBundle(agentBundle, join(root, 'opt/fleet/agent'), arch, work);
  }

  const rootStats = await normalizeTree(root, epoch);
  const rootfsPart = board.partitions.find((p) => p.role === 'rootfs-a');
  if (!rootfsPart) throw new Error('board has no rootfs-a partition');
  const mib = 1024 * 1024;
  // Just big enough (+25 % and 32 MiB free), so a slot object carries no empty space.
  const rootfsSize = Math.ceil((rootStats.bytes * 1.25 + 32 * mib) / (4 * mib)) * 4 * mib;
  if (rootfsSize > rootfsPart.size) {
    throw new Error(
      `root filesystem needs ${rootfsSize} bytes but the slot partitions hold ${rootfsPart.size}`,
    );
  }
  const rootfsImage = join(work, 'rootfs.ext4');
  await makeExt4(
    root,
    rootfsImage,
    {
      sizeBytes: rootfsSize,
      label: 'root',
      uuid: stableUuid(`${board.name}:rootfs`),
      hashSeed: stableUuid(`${board.name}:rootfs:hash`),
      epoch,
      // Mounted read-only by the initramfs: no journal, no free space in the slot object.
      readOnly: true,
    },
    signal,
  );
  const rootfsDigest = `sha256:${await sha256File(rootfsImage)}`;
  // The slot image is also an output: the object of a system release (release-rootfs).
  const rootfsOut = join(options.outDir, `${name}.rootfs.ext4`);

  // 5. Boot partition: boot.scr (+ firmware, U-Boot, dtbs, text files for boards that need them).
  log('boot partition');
  const bootStage = join(work, 'bootfs');
  await mkdir(bootStage, { recursive: true });
  const bootFiles: { src: string; dest: string }[] = [];
  await mkimageScript(
    join(boardDir(board.name), 'boot.cmd'),
    join(bootStage, 'boot.scr'),
    `fleet A/B ${board.name}`,
    epoch,
  );
  bootFiles.push({ src: join(bootStage, 'boot.scr'), dest: 'boot.scr' });
  const fromDeb = async (debName: string, path: string, dest: string) => {
    const x = join(work, `deb-${debName}`);
    if (!(await exists(x))) await extractDeb(deb(debName), x);
    const src = join(bootStage, dest.replace(/\//g, '_'));
    await copyFile(join(x, path), src);
    bootFiles.push({ src, dest });
  };
  if (board.bootloader.source.kind === 'boot-partition') {
    const f = board.bootloader.source.file;
    await fromDeb(f.deb, f.path, f.dest);
  }
  for (const f of board.bootPartitionFiles) await fromDeb(f.deb, f.path, f.dest);
  for (const dtb of board.kernel.dtbs) {
    const src = join(bootStage, dtb.replace(/\//g, '_'));
    await copyFile(join(kernel.root, 'usr/lib', `linux-image-${kernel.release}`, dtb), src);
    bootFiles.push({ src, dest: dtb.slice(dtb.lastIndexOf('/') + 1) });
  }
  for (const [file, text] of Object.entries(board.bootPartitionText)) {
    await writeFile(join(bootStage, file), text);
    bootFiles.push({ src: join(bootStage, file), dest: file });
  }
  const bootPart = board.partitions.find((p) => p.role === 'boot');
  if (!bootPart) throw new Error('board has no boot partition');
  const bootImage = join(work, 'boot.vfat');
  const volumeId = createHash('sha256').update(`${board.name}:boot`).digest('hex').slice(0, 8);
  await makeVfat(
    bootFiles,
    bootImage,
    { sizeBytes: bootPart.size, label: bootPart.label, volumeId, epoch },
    signal,
  );

  // 6. Data partition: provisioning config and the factory release.
  log('data partition');
  const dataStage = join(work, 'data');
  await mkdir(dataStage, { recursive: true });
  await writeFile(join(dataStage, 'agent.json'), `${JSON.stringify(agentConfigInput, null, 2)}\n`, {
    mode: 0o600,
  });
  if (options.factoryDir) await cp(options.factoryDir, join(dataStage, 'factory'), { recursive: true });
  const dataPart = board.partitions.find((p) => p.role === 'data');
  if (!dataPart) throw new Error('board has no data partition');
  const dataImage = join(work, 'data.ext4');
  await makeExt4(
    dataStage,
    dataImage,
    {
      sizeBytes: dataPart.size,
      label: dataPart.label,
      uuid: stableUuid(`${board.name}:data`),
      hashSeed: stableUuid(`${board.name}:data:hash`),
      epoch,
    },
    signal,
  );

  // 7. The disk: MBR, partitions, both slots from the same rootfs, the initial boot env.
  log('disk image');
  const image = join(options.outDir, `${name}.img`);
  const placements = await createDisk(image, board);
  const images: Record<string, string> = {
    boot: bootImage,
    'rootfs-a': rootfsImage,
    'rootfs-b': rootfsImage,
    data: dataImage,
  };
  const partitions: ImageManifest['partitions'] = [];
  for (const [i, placed] of placements.entries()) {
    const part = board.partitions[i];
    const src = part ? images[part.role] : undefined;
    if (!part || !src) throw new Error('partition mismatch');
    const bytes = await writeAt(image, src, placed.offset, placed.size);
    partitions.push({
      number: placed.number,
      name: part.name,
      role: part.role,
      filesystem: part.filesystem,
      offset: placed.offset,
      size: placed.size,
      contentBytes: bytes,
      digest: `sha256:${await sha256File(src)}`,
    });
  }
  const bootEnv = abStateToEnv({
    bootSlot: 'A',
    upgradeAvailable: false,
    bootcount: 0,
    bootlimit: board.bootState.bootlimit,
  });
  await new UbootEnvStore(fwEnvConfigFor(board, image)).initialize(bootEnv);

  // 8. bmap, checksum, manifest.
  log('bmap and checksums');
  const bmap = `${image}.bmap`;
  await run('bmaptool', ['create', '-o', bmap, image]);
  const imageDigest = await sha256File(image);
  const sumFile = `${image}.sha256`;
  await writeFile(sumFile, `${imageDigest}  ${name}.img\n`);
  const { size: imageSize } = await stat(image);
  const manifest = ImageManifest.parse({
    spec: 'fleet-image@1',
    board: board.name,
    release,
    sourceDateEpoch: epoch,
    image: {
      file: `${name}.img`,
      size: imageSize,
      digest: `sha256:${imageDigest}`,
      bmap: `${name}.img.bmap`,
    },
    rootfs: {
      digest: rootfsDigest,
      size: (await stat(rootfsImage)).size,
      filesystem: 'ext4',
      file: `${name}.rootfs.ext4`,
    },
    partitions,
    bootState: {
      kind: 'uboot-env',
      offsets: board.bootState.offsets,
      envSize: board.bootState.envSize,
      initial: bootEnv,
    },
    kernel: {
      package: kernelPackage,
      version: deb(kernelPackage).version,
      release: kernel.release,
      modules,
      initrdDigest: `sha256:${createHash('sha256').update(initrd).digest('hex')}`,
    },
    inputs: {
      debs: sortByName(debs).map((d) => ({
        name: d.name,
        version: d.version,
        arch: d.arch,
        sha256: d.sha256,
      })),
      npm: [{ spec: node.spec, sha256: node.sha256 }],
    },
    agent: agentBundle
      ? {
          bundled: true,
          bootControl: 'uboot-env',
          trustRoots: (options.trustRoots ?? []).map((r) => r.keyId),
        }
      : {
          bundled: false,
          note: 'built with --agent none (or without device-agent/dist/bundle): the init idles',
        },
    provisioning: { hubUrl: options.hubUrl, claimToken: 'set', path: '/storage/agent.json' },
    factory: options.factoryDir
      ? { files: (await listFiles(options.factoryDir)).length, path: '/storage/factory' }
      : null,
  });
  const manifestPath = join(options.outDir, `${name}.manifest.json`);
  await writeFile(manifestPath, `${JSON.stringify(manifest, null, 2)}\n`);
  await rename(rootfsImage, rootfsOut);
  await rm(work, { recursive: true, force: true });
  log(`done: ${image}`);
  return { image, bmap, sha256File: sumFile, manifestPath, manifest };
}

async function lstatSafe(path: string): Promise<boolean> {
  return lstat(path).then(
    () => true,
    () => false,
  );
}

async function listFiles(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    if (entry.isDirectory())
      out.push(...(await listFiles(join(dir, entry.name))).map((f) => `${entry.name}/${f}`));
    else out.push(entry.name);
  }
  return out;
}

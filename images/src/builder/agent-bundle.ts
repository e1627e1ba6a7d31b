import { chmod, cp, mkdir, rm, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { run } from './exec.js';

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

/** `pnpm --filter @fleet/device-agent bundle` writes the self-contained agent here. */
export const DEFAULT_AGENT_BUNDLE = join(REPO, 'device-agent/dist/bundle');
const NATIVE_SRC = join(REPO, 'device-agent/native/src');

/** The cross toolchain (Debian g++-aarch64-linux-gnu) per board architecture. */
const CROSS_PREFIX: Record<string, string> = { arm64: 'aarch64-linux-gnu-' };

async function exists(path: string): Promise<boolean> {
  return stat(path).then(
    () => true,
    () => false,
  );
}

export async function hasAgentBundle(dir: string): Promise<boolean> {
  return exists(join(dir, 'fleet-agent.mjs'));
}

/**
 * Node's headers: the ones the host's addon build uses (`--nodedir` = the prefix of the running
 * node). Node-API is ABI-stable across versions and architectures, so the host's headers serve
 * an arm64 build for the image's Node 20 as well.
 */
function nodeIncludeDir(): string {
  return join(resolve(process.execPath, '../..'), 'include/node');
}

function nodeAddonApiDir(): string {
  const require = createRequire(join(REPO, 'device-agent/native/package.json'));
  return dirname(require.resolve('node-addon-api/package.json'));
}

/**
 * Copies the agent bundle into `dest` (the image's /opt/fleet/agent) and replaces the two
 * files that are machine code for the build host — `@fleet/native`'s addon and its
 * `fleet-lxc-start` helper — with builds for the board's architecture (the same sources and
 * flags as device-agent/native/binding.gyp, compiled by the cross toolchain). koffi's prebuilt
 * for the host architecture is dropped: the device never loads it.
 */
export async function installAgentBundle(
  bundleDir: string,
  dest: string,
  debArch: string,
  work: string,
): Promise<void> {
  const prefix = CROSS_PREFIX[debArch];
  if (!prefix) throw new Error(`no cross toolchain known for ${debArch}`);
  if (!(await hasAgentBundle(bundleDir))) {
    throw new Error(
      `${bundleDir} has no fleet-agent.mjs: run \`pnpm --filter @fleet/device-agent bundle\` first`,
    );
  }
  for (const tool of ['g++', 'gcc']) {
    await run('sh', ['-c', `command -v ${prefix}${tool}`]).catch(() => {
      throw new Error(
        `${prefix}${tool} not found: apt-get install g++-aarch64-linux-gnu (cross-builds the agent's native addon)`,
      );
    });
  }
  await mkdir(dest, { recursive: true });
  await cp(bundleDir, dest, { recursive: true });
  await rm(join(dest, 'node_modules/@koromix/koffi-linux-x64'), { recursive: true, force: true });

  const out = join(work, 'native-cross');
  await mkdir(out, { recursive: true });
  // Paths in the objects must not depend on where the repository or the scratch dir is.
  const prefixMap = [`-ffile-prefix-map=${REPO}=.`, `-ffile-prefix-map=${work}=.`];
  await run(`${prefix}g++`, [
    '-shared',
    '-fPIC',
    '-O2',
    '-std=c++17',
    '-Wall',
    '-Wextra',
    '-DNAPI_VERSION=8',
    '-DNAPI_DISABLE_CPP_EXCEPTIONS',
    '-D_GNU_SOURCE',
    '-DBUILDING_NODE_EXTENSION',
    `-I${nodeIncludeDir()}`,
    `-I${nodeAddonApiDir()}`,
    ...prefixMap,
    '-o',
    join(out, 'fleet_native.node'),
    join(NATIVE_SRC, 'native.cc'),
  ]);
  await run(`${prefix}gcc`, [
    '-std=c11',
    '-O2',
    '-Wall',
    '-Wextra',
    ...prefixMap,
    '-o',
    join(out, 'fleet-lxc-start'),
    join(NATIVE_SRC, 'lxc-start-helper.c'),
    '-ldl',
  ]);
  for (const [file, mode] of [
    ['fleet_native.node', 0o755],
    ['fleet-lxc-start', 0o755],
  ] as const) {
    await cp(join(out, file), join(dest, file));
    await chmod(join(dest, file), mode);
  }
}

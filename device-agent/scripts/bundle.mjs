#!/usr/bin/env node
// Builds the device bundle: dist/bundle/ runs with a plain `node fleet-agent.mjs` (Node 20), no
// tsx and no workspace node_modules. The images package copies this folder to
// /opt/fleet/agent/ in the device rootfs.
//
//   fleet-agent.mjs      the agent and its CLI (esbuild, ESM, node20), and its chunks
//                        (main-*.mjs, oci-*.mjs, chunk-*.mjs: modules imported on demand)
//   starter-main.js      the koffi starter process (runtime/lxc/starter.ts runs it next to itself)
//   package.json         {"type":"module"} so starter-main.js loads as ESM
//   fleet_native.node    @fleet/native's addon, and fleet-lxc-start, its start helper
//   node_modules/@koromix/koffi-linux-{x64,arm64}/   koffi's prebuilt binaries, where koffi's
//                        loader looks first: require('@koromix/koffi-linux-<arch>') from the bundle
import { build } from 'esbuild';
import { cp, mkdir, readdir, readFile, rm, writeFile, copyFile, chmod } from 'node:fs/promises';
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { lruCacheLazyClock, mqttLazyTransports } from './mqtt-lazy-transports.mjs';

const pkg = resolve(dirname(fileURLToPath(import.meta.url)), '..');
// `--out <dir>`: build elsewhere (e.g. to compare two builds while tests rebuild dist/bundle);
// `--metafile`: also write esbuild's metafile (what each input costs in the output) next to it.
const outArg = process.argv.indexOf('--out');
const out = outArg >= 0 ? resolve(process.argv[outArg + 1]) : join(pkg, 'dist', 'bundle');
const wantMeta = process.argv.includes('--metafile');
const nativeRoot = join(pkg, 'native');

// @fleet/native finds its addon and helper relative to its package root; in the bundle they
// sit next to the bundle file. The rewrite is exact: if native's source changes shape the
// build fails instead of producing a bundle that cannot load its addon.
const nativePaths = {
  name: 'fleet-native-paths',
  setup(b) {
    b.onLoad({ filter: /[\\/]native[\\/]src[\\/]index\.ts$/ }, async (args) => {
      let src = await readFile(args.path, 'utf8');
      const swaps = [
        ["join(dirname(fileURLToPath(import.meta.url)), '..')", 'dirname(fileURLToPath(import.meta.url))'],
        ["'build/Release/fleet_native.node'", "'fleet_native.node'"],
        ["'build/Release/fleet-lxc-start'", "'fleet-lxc-start'"],
      ];
      for (const [from, to] of swaps) {
        if (!src.includes(from))
          throw new Error(`bundle: ${args.path} no longer contains ${from}; update scripts/bundle.mjs`);
        src = src.replace(from, to);
      }
      return { contents: src, loader: 'ts' };
    });
  },
};

// Measured (docs/runtime.md, memory): zod classic's `export * as locales` pulls all ~40
// locales (358 KiB of the bundle) into every process; the agent only ever formats errors in
// English (zod registers `en` itself from classic/schemas.js). The namespace is swapped for one
// holding only `en`, so `z.locales.en` still works and any other locale is simply absent.
const zodEnglishOnly = {
  name: 'zod-english-only',
  setup(b) {
    b.onResolve({ filter: /^\.\.\/locales\/index\.js$/ }, (args) => {
      if (!/[\\/]zod[\\/]v4[\\/](classic|core)[\\/]/.test(args.importer)) return undefined;
      return { path: join(dirname(args.importer), '..', 'locales', 'en-only.js'), namespace: 'zod-en' };
    });
    b.onLoad({ filter: /.*/, namespace: 'zod-en' }, (args) => ({
      contents: "export { default as en } from './en.js';\n",
      resolveDir: dirname(args.path),
      loader: 'js',
    }));
  },
};

// Measured: @fleet/protocol's root also re-exports the hub's REST API schemas (api/), built
// eagerly at import time and never used by the agent. The bundle resolves the root to the same
// list of modules minus api/ (read from protocol's index.ts, so a new module is picked up); an
// agent import of an api/ name then fails the build instead of bundling api/ again.
const protocolWithoutApi = {
  name: 'protocol-without-api',
  setup(b) {
    b.onResolve({ filter: /^@fleet\/protocol$/ }, async (args) => {
      if (args.pluginData === 'protocol-root') return undefined;
      const r = await b.resolve(args.path, {
        kind: args.kind,
        resolveDir: args.resolveDir,
        pluginData: 'protocol-root',
      });
      if (r.errors.length > 0) return { errors: r.errors };
      return { path: r.path, namespace: 'protocol-agent' };
    });
    b.onLoad({ filter: /.*/, namespace: 'protocol-agent' }, async (args) => {
      const src = await readFile(args.path, 'utf8');
      const api = "export * from './api/index.js';\n";
      if (!src.includes(api))
        throw new Error(`bundle: ${args.path} no longer contains ${api.trim()}; update scripts/bundle.mjs`);
      return { contents: src.replace(api, ''), resolveDir: dirname(args.path), loader: 'ts' };
    });
  },
};

const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  // Workspace packages resolve to their TS source (protocol need not be built first).
  conditions: ['fleet-source'],
  // CommonJS dependencies (mqtt's) call require(); ESM output has none of its own.
  banner: {
    js: "import { createRequire as __fleetCreateRequire } from 'node:module'; const require = __fleetCreateRequire(import.meta.url);",
  },
  // Optional native speed-ups of ws that mqtt may probe for; absent is fine.
  external: ['bufferutil', 'utf-8-validate'],
  loader: { '.node': 'copy' },
  plugins: [nativePaths, zodEnglishOnly, protocolWithoutApi, mqttLazyTransports, lruCacheLazyClock],
  logLevel: 'warning',
  legalComments: 'none',
  sourcemap: false,
  // Measured (docs/runtime.md, memory): V8 keeps a module's whole source as a string for the
  // life of the process (lazy compilation reads it again). esbuild keeps comments inside
  // expressions, and a few carry non-ASCII characters (ip-address, zod), which made the
  // 1.7 MB source a two-byte string. Without whitespace and comments it is ASCII and a third
  // smaller: about 2 MiB less RSS. Identifiers stay (stack traces name their functions; line
  // and column numbers point into a long line). Renaming identifiers would need keepNames,
  // which costs more heap than it saves.
  minifyWhitespace: true,
};

await rm(out, { recursive: true, force: true });
await mkdir(out, { recursive: true });
const agentBuild = await build({
  ...common,
  entryPoints: { 'fleet-agent': join(pkg, 'src/cli/bin.ts') },
  outdir: out,
  // Dynamic imports (main.ts for `run`, oci/ for an image import) become chunk files next to
  // fleet-agent.mjs, loaded when first imported: V8 keeps the source of every loaded module
  // resident, so code a process never imports costs it nothing (idle agent ~0.3 MiB less, CLI
  // commands more). Chunks stay in this folder: native/ and the starter find their files
  // relative to import.meta.url.
  splitting: true,
  outExtension: { '.js': '.mjs' },
  metafile: wantMeta,
});
if (wantMeta) await writeFile(`${out}.meta.json`, JSON.stringify(agentBuild.metafile));
await build({
  ...common,
  entryPoints: { 'starter-main': join(pkg, 'src/runtime/lxc/starter-main.ts') },
  outdir: out,
});
await writeFile(
  join(out, 'package.json'),
  `${JSON.stringify({ name: 'fleet-agent-bundle', private: true, type: 'module' }, null, 2)}\n`,
);

for (const f of ['fleet_native.node', 'fleet-lxc-start']) {
  const from = join(nativeRoot, 'build', 'Release', f);
  if (!existsSync(from))
    throw new Error(
      `bundle: ${from} is missing; build @fleet/native first (pnpm --filter @fleet/native install)`,
    );
  await copyFile(from, join(out, f));
}
await chmod(join(out, 'fleet-lxc-start'), 0o755);

// koffi's prebuilt binaries, one package per arch (resolved from koffi's own location).
const koffiRequire = createRequire(createRequire(join(pkg, 'package.json')).resolve('koffi'));
const requirePkg = createRequire(join(pkg, 'package.json'));
for (const arch of ['x64', 'arm64']) {
  const name = `@koromix/koffi-linux-${arch}`;
  let dir;
  for (const r of [requirePkg, koffiRequire]) {
    try {
      dir = dirname(r.resolve(`${name}/package.json`));
      break;
    } catch {
      // try the next resolver
    }
  }
  if (!dir) throw new Error(`bundle: ${name} is not installed (a devDependency of @fleet/device-agent)`);
  await cp(dir, join(out, 'node_modules', name), { recursive: true, dereference: true });
}

let size = 0;
// One non-ASCII byte turns a module's whole resident source into a two-byte string (see
// minifyWhitespace).
for (const f of (await readdir(out)).filter((n) => n.endsWith('.mjs'))) {
  const js = await readFile(join(out, f));
  size += js.length;
  const at = js.findIndex((byte) => byte > 0x7f);
  if (at >= 0)
    throw new Error(
      `bundle: ${f} has a non-ASCII byte at ${at} (${JSON.stringify(js.subarray(Math.max(0, at - 40), at + 10).toString())}); V8 would keep its source as a two-byte string`,
    );
}
console.log(`bundle: ${out} (fleet-agent.mjs and its chunks ${(size / 1024).toFixed(0)} KiB)`);

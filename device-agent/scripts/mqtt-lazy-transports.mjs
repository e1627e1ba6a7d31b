// An esbuild plugin of the device bundle (scripts/bundle.mjs), in its own module so a test can
// bundle mqtt with it and connect over every transport (test/integration/bundle-mqtt.test.ts).
import { readFile } from 'node:fs/promises';

// Measured (docs/runtime.md, memory): on its first connect, mqtt.js builds its table of
// transports by require()ing every one: ws (and with it node:https, zlib, crypto), tls, tcp,
// and through tcp and tls the SOCKS client (socks, ip-address, smart-buffer, node:dns,
// node:assert). An agent on mqtt:// uses tcp alone. The table entries become functions that
// require their transport when called, and tcp/tls require the SOCKS client only for a
// socksProxy, so a transport costs memory only once it is used. Exact swaps: if mqtt's build
// changes shape the bundle fails instead of silently loading everything again.
export const mqttLazyTransports = {
  name: 'mqtt-lazy-transports',
  setup(b) {
    const edits = {
      'connect/index.js': [
        [
          "protocols.ws = require('./ws').streamBuilder;",
          "protocols.ws = (...a) => require('./ws').streamBuilder(...a);",
        ],
        [
          "protocols.wss = require('./ws').streamBuilder;",
          "protocols.wss = (...a) => require('./ws').streamBuilder(...a);",
        ],
        [
          "protocols.ssl = require('./tls').default;",
          "protocols.ssl = (...a) => require('./tls').default(...a);",
        ],
        [
          "protocols.mqtts = require('./tls').default;",
          "protocols.mqtts = (...a) => require('./tls').default(...a);",
        ],
      ],
      'connect/tcp.js': [
        [
          'const socks_1 = __importDefault(require("./socks"));',
          'const socks_1 = { get default() { return __importDefault(require("./socks")).default; } };',
        ],
      ],
      'connect/tls.js': [
        [
          'const socks_1 = __importDefault(require("./socks"));',
          'const socks_1 = { get default() { return __importDefault(require("./socks")).default; } };',
        ],
      ],
    };
    b.onLoad({ filter: /[\\/]mqtt[\\/]build[\\/]lib[\\/]connect[\\/](index|tcp|tls)\.js$/ }, async (args) => {
      let src = await readFile(args.path, 'utf8');
      const file = args.path.split(/[\\/]/).slice(-2).join('/');
      for (const [from, to] of edits[file]) {
        if (!src.includes(from))
          throw new Error(`bundle: ${args.path} no longer contains ${from}; update scripts/bundle.mjs`);
        src = src.split(from).join(to);
      }
      return { contents: src, loader: 'js' };
    });
  },
};

// Measured (docs/runtime.md, memory): lru-cache (mqtt's topic-alias cache) reads the global
// `performance` when it loads, which makes node load perf_hooks (~0.2 MiB RSS) although mqtt
// never gives the cache a TTL. The clock is now chosen on the first `perf.now()`: the same
// clock, read on use. Exact swap, the build fails if lru-cache changes shape.
export const lruCacheLazyClock = {
  name: 'lru-cache-lazy-clock',
  setup(b) {
    b.onLoad({ filter: /[\\/]lru-cache[\\/]dist[\\/]commonjs[\\/]index\.js$/ }, async (args) => {
      const src = await readFile(args.path, 'utf8');
      const from = `const perf = typeof performance === 'object' &&
    performance &&
    typeof performance.now === 'function'
    ? performance
    : Date;`;
      if (!src.includes(from))
        throw new Error(
          `bundle: ${args.path} no longer picks its clock as expected; update scripts/mqtt-lazy-transports.mjs`,
        );
      const to = `const perf = { now: () => (typeof performance === 'object' && performance && typeof performance.now === 'function' ? performance : Date).now() };`;
      return { contents: src.replace(from, to), loader: 'js' };
    });
  },
};

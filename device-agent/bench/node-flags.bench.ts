// What the agent's node flags cost in CPU (docs/runtime.md, memory). Not a test: nothing asserts
// on time. Runs the agent's JS-heavy work (the OCI tar reader over a tar of many small files,
// release manifest parse + canonical JSON + signature, MQTT message encode/decode, offline queue
// frames) in a child per flag set, alternating, and reports CPU ms (user+sys) medians.
//   node --conditions=fleet-source --import tsx bench/node-flags.bench.ts TAR_FILE [--repeats 5]
//     [--set NAME='--flag ...']...
import { execFile } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { promisify } from 'node:util';
import {
  decodeMessage,
  encodeMessage,
  generateSigningKey,
  parseReleaseManifest,
  signManifest,
  verifyManifest,
} from '@fleet/protocol';
import { aContainer, aRelease } from '@fleet/protocol/testing';
import { decodeSegment, encodeRecord } from '../src/link/queue-codec.js';
import { readTar } from '../src/oci/tar-reader.js';
import { AGENT_NODE_FLAGS } from '../src/node-flags.js';

const run = promisify(execFile);
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function workload(tarFile: string): Promise<Record<string, number>> {
  const cpu = () => {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1000;
  };
  const out: Record<string, number> = {};
  let t = cpu();
  for (let i = 0; i < 3; i++) {
    for await (const e of readTar(createReadStream(tarFile, { highWaterMark: 64 * 1024 }))) {
      for await (const chunk of e.body) void chunk;
    }
  }
  out.tar = cpu() - t;

  t = cpu();
  const key = generateSigningKey('bench');
  const containers = Object.fromEntries(Array.from({ length: 20 }, (_, i) => [`c${i}`, aContainer()]));
  for (let i = 0; i < 300; i++) {
    const parsed = parseReleaseManifest(aRelease({ containers }));
    if (!parsed.ok) throw parsed.error;
    const signed = signManifest(parsed.value, key);
    if (!verifyManifest(signed, [key.trustRoot]).ok) throw new Error('verify failed');
  }
  out.manifest = cpu() - t;

  t = cpu();
  for (let i = 0; i < 5000; i++) {
    const sample = {
      time: new Date(1_700_000_000_000 + i).toISOString(),
      cpuPercent: 12.5,
      memUsedBytes: 1 << 28,
      memTotalBytes: 1 << 30,
      diskUsedBytes: 1 << 30,
      diskTotalBytes: 1 << 32,
      load1: 0.5,
      uptimeSeconds: i,
    };
    const enc = encodeMessage('telemetry', { samples: [sample, sample, sample] });
    if (!enc.ok || !decodeMessage('telemetry', enc.value.payload).ok) throw new Error('telemetry round trip');
  }
  out.messages = cpu() - t;

  t = cpu();
  const frames: Buffer[] = [];
  for (let i = 0; i < 20000; i++)
    frames.push(
      encodeRecord({ op: 'append', seq: i, kind: 'report', key: `k${i % 10}`, payload: Buffer.alloc(200) }),
    );
  decodeSegment(Buffer.concat(frames));
  out.queue = cpu() - t;
  out.total = out.tar + out.manifest + out.messages + out.queue;
  return out;
}

if (process.argv[2] === '--child') {
  console.log(JSON.stringify(await workload(process.argv[3]!)));
} else {
  const tarFile = process.argv[2];
  if (!tarFile) throw new Error('usage: node-flags.bench.ts TAR_FILE [--repeats N]');
  const ri = process.argv.indexOf('--repeats');
  const repeats = ri >= 0 ? Number(process.argv[ri + 1]) : 5;
  // `--set NAME='--flag --flag'` (repeatable) compares further flag sets in the same run.
  const sets: Record<string, string[]> = { none: [], agent: [...AGENT_NODE_FLAGS] };
  process.argv.forEach((a, i) => {
    if (a !== '--set') return;
    const spec = process.argv[i + 1] ?? '';
    const eq = spec.indexOf('=');
    sets[spec.slice(0, eq)] = spec
      .slice(eq + 1)
      .split(' ')
      .filter(Boolean);
  });
  const results: Record<string, Record<string, number>[]> = Object.fromEntries(
    Object.keys(sets).map((k) => [k, []]),
  );
  for (let r = 0; r < repeats; r++) {
    for (const [name, flags] of Object.entries(sets)) {
      const { stdout } = await run(process.execPath, [
        ...flags,
        '--conditions=fleet-source',
        '--import',
        'tsx',
        import.meta.filename,
        '--child',
        tarFile,
      ]);
      results[name]!.push(JSON.parse(stdout.trim().split('\n').pop()!) as Record<string, number>);
    }
  }
  for (const [name, rs] of Object.entries(results)) {
    const keys = Object.keys(rs[0]!);
    console.log(
      `${name.padEnd(6)} [${sets[name]!.join(' ')}] CPU ms median: ${keys.map((k) => `${k} ${median(rs.map((x) => x[k]!)).toFixed(0)}`).join(', ')}`,
    );
  }
}

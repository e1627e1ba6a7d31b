// Runs inside the qemu guest (Node 20 of the slot): the steps of a system update's data path,
// one at a time, each timed, so the harness (guest-throughput.ts) can say where the time goes.
// The steps mirror the agent's code (device-agent/src/link/downloader.ts fetchOnce,
// store/object-store.ts adoptFile, boot/install.ts writeAndVerify): 1 MiB reads, a sha256 per
// pass, fsync/datasync at the same points, BLKFLSBUF before the read-back.
// Usage: node guest-update-path.mjs <url> <size> <object file on /storage> <slot device>
// Prints one `MEASURE {json}` line per step.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, unlink } from 'node:fs/promises';
import http from 'node:http';
import { performance } from 'node:perf_hooks';

const [url, sizeArg, file, slot] = process.argv.slice(2);
const size = Number(sizeArg);
const MiB = 1 << 20;
const out = (step, ms, bytes, extra = {}) =>
  console.log(
    `MEASURE ${JSON.stringify({ step, ms: Math.round(ms), MiBps: bytes ? +(bytes / MiB / (ms / 1000)).toFixed(2) : undefined, ...extra })}`,
  );
const now = () => performance.now();

function get(onChunk) {
  return new Promise((resolve, reject) => {
    http
      .get(url, async (res) => {
        let n = 0;
        try {
          for await (const c of res) {
            n += c.length;
            await onChunk(c);
          }
          resolve(n);
        } catch (e) {
          reject(e);
        }
      })
      .on('error', reject);
  });
}

// 0. CPU alone: sha256 over 64 MiB in memory (OpenSSL; cortex-a57 has the SHA-2 instructions).
{
  const buf = Buffer.alloc(64 * MiB, 7);
  const t = now();
  createHash('sha256').update(buf).digest();
  out('sha256-memory', now() - t, buf.length);
}
// 1. The network alone: the object through slirp + the guest's TCP into Node, discarded.
{
  const t = now();
  const n = await get(() => {});
  out('http-discard', now() - t, n);
}
// 2. The downloader: each chunk written to the partial file and hashed, datasync at the end.
{
  const t = now();
  const fh = await open(file, 'w', 0o600);
  const hash = createHash('sha256');
  let pos = 0;
  let chunks = 0;
  const n = await get(async (c) => {
    chunks++;
    let off = 0;
    while (off < c.length) off += (await fh.write(c, off, c.length - off, pos + off)).bytesWritten;
    pos += c.length;
    hash.update(c);
  });
  const tSync = now();
  await fh.datasync();
  await fh.close();
  out('download-write-hash', now() - t, n, {
    datasyncMs: Math.round(now() - tSync),
    chunks,
    meanChunkKiB: +(n / chunks / 1024).toFixed(1),
  });
}
// 2b. The same with the chunks gathered into 1 MiB writes (one thread-pool round trip and one
// pwrite per MiB instead of per socket read): what a coalescing downloader would cost.
{
  const t = now();
  const fh = await open(file, 'w', 0o600);
  const hash = createHash('sha256');
  let pos = 0;
  let pending = [];
  let pendingBytes = 0;
  const flush = async () => {
    const b = Buffer.concat(pending, pendingBytes);
    pending = [];
    pendingBytes = 0;
    let off = 0;
    while (off < b.length) off += (await fh.write(b, off, b.length - off, pos + off)).bytesWritten;
    pos += b.length;
  };
  const n = await get(async (c) => {
    hash.update(c);
    pending.push(c);
    pendingBytes += c.length;
    if (pendingBytes >= MiB) await flush();
  });
  await flush();
  await fh.datasync();
  await fh.close();
  out('download-coalesced-1MiB', now() - t, n);
}
// 3. The object store's adoptFile: the whole file read and hashed again, fsync.
{
  execFileSync('sh', ['-c', 'sync; echo 3 > /proc/sys/vm/drop_caches']);
  const t = now();
  const hash = createHash('sha256');
  let n = 0;
  for await (const c of createReadStream(file, { highWaterMark: MiB })) {
    hash.update(c);
    n += c.length;
  }
  out('store-adopt-rehash', now() - t, n);
}
// 4. writeAndVerify: read + hash + write into the slot, fsync, BLKFLSBUF, read-back + hash.
{
  const t = now();
  const target = await open(slot, 'r+');
  const hash = createHash('sha256');
  let written = 0;
  for await (const c of createReadStream(file, { highWaterMark: MiB })) {
    hash.update(c);
    let off = 0;
    while (off < c.length) off += (await target.write(c, off, c.length - off, written + off)).bytesWritten;
    written += c.length;
  }
  const tWrite = now();
  await target.sync();
  await target.close();
  const tSync = now();
  execFileSync('blockdev', ['--flushbufs', slot]);
  const back = createHash('sha256');
  const rh = await open(slot, 'r');
  const buf = Buffer.allocUnsafe(MiB);
  for (let pos = 0; pos < written;) {
    const { bytesRead } = await rh.read(buf, 0, Math.min(MiB, written - pos), pos);
    if (bytesRead === 0) break;
    back.update(buf.subarray(0, bytesRead));
    pos += bytesRead;
  }
  await rh.close();
  const tEnd = now();
  out('slot-write-hash', tWrite - t, written);
  out('slot-fsync', tSync - tWrite, 0);
  out('slot-readback-hash', tEnd - tSync, written, {
    same: back.digest('hex') === hash.digest('hex'),
  });
}
await unlink(file);
out('done', 0, 0, { size });

import { parseArgs } from 'node:util';
import { flashImage } from '../../flash/flash.js';
import { progressBar } from '../progress.js';
import type { TextSink } from '../progress.js';
import { UsageError } from '../usage-error.js';
import { userPath } from '../user-path.js';

export const FLASH_USAGE = 'usage: fleet-image flash <image.img> <device> [--bmap <file.bmap>] [--json]';

export async function imageFlash(argv: string[], signal: AbortSignal, stderr: TextSink): Promise<string> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: { bmap: { type: 'string' }, json: { type: 'boolean' } },
  });
  const [image, device, extra] = positionals;
  if (!image || !device || extra !== undefined) throw new UsageError(FLASH_USAGE);
  const bar = progressBar(stderr);
  const result = await flashImage({
    image: userPath(image),
    device: userPath(device),
    ...(values.bmap ? { bmap: userPath(values.bmap) } : {}),
    signal,
    onProgress: (done, total, phase) => bar(done, total, phase),
  });
  if (values.json) return `${JSON.stringify(result)}\n`;
  return `flashed ${image} to ${device}: ${(result.bytesWritten / 2 ** 20).toFixed(1)} MiB written${result.usedBmap ? ' (bmap)' : ''}, ${result.rangesVerified} ranges verified by read-back\n`;
}

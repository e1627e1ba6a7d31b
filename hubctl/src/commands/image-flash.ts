import { z } from 'zod';
import { defineCommand } from '../cli/command.js';
import { bytes } from '../cli/format.js';
import type { Progress } from '../cli/progress.js';

export default defineCommand({
  path: ['image', 'flash'],
  summary:
    'Write an image to a card or disk (bmap-aware, verified by read-back; refuses mounted disks and the one holding /).',
  args: [
    { name: 'image', description: 'the .img file' },
    { name: 'device', description: 'target block device (or file)' },
  ],
  options: [{ flags: '--bmap <file>', description: 'block map (default <image>.bmap when present)' }],
  json: true,
  input: z.object({
    image: z.string().min(1),
    device: z.string().min(1),
    bmap: z.string().min(1).optional(),
  }),
  async run(input, ctx) {
    const { flashImage } = await import('@fleet/images');
    let phase: string | undefined;
    let bar: Progress | undefined;
    let last = 0;
    try {
      const result = await flashImage({
        image: input.image,
        device: input.device,
        ...(input.bmap ? { bmap: input.bmap } : {}),
        signal: ctx.signal,
        onProgress: (done, total, p) => {
          if (p !== phase) {
            bar?.stop();
            phase = p;
            last = 0;
            bar = ctx.progress(p === 'write' ? 'writing' : 'verifying', total);
          }
          bar!.increment(done - last);
          last = done;
        },
      });
      return {
        data: result,
        text: `flashed ${input.image} to ${input.device}: ${bytes(result.bytesWritten)} written${result.usedBmap ? ' (bmap)' : ''}, ${result.rangesVerified} ranges verified by read-back\n`,
      };
    } finally {
      bar?.stop();
    }
  },
});

import { z } from 'zod';
import { defineCommand, type CommandContext } from '../cli/command.js';
import { HubctlError } from '../cli/errors.js';
import { LiveLogLine, type HubEvent } from '@fleet/protocol';
import { IntText, Uuid } from './inputs.js';

export const DevicesLogsInput = z.object({
  id: Uuid,
  source: z.string().min(1).max(64).optional(),
  lines: IntText(1, 1000).default(100),
  follow: z.boolean().default(false),
  json: z.boolean().default(false),
});

interface Line {
  at: string;
  source: string;
  stream: string;
  text: string;
}

const keyOf = (l: Line) => `${l.at}\u0000${l.source}\u0000${l.text}`;

function printer(ctx: CommandContext, json: boolean): (l: Line) => void {
  return (l) =>
    ctx.stdout.write(json ? `${JSON.stringify(l)}\n` : `${l.at} ${l.source}[${l.stream}] ${l.text}\n`);
}

/** The lines of a `device.logs` event, ignoring anything malformed. */
export function linesOfEvent(event: HubEvent, source?: string): Line[] {
  const raw = Array.isArray(event.data.lines) ? event.data.lines : [];
  const out: Line[] = [];
  for (const item of raw) {
    const r = LiveLogLine.safeParse(item);
    if (r.success && (source === undefined || r.data.source === source))
      out.push({ at: r.data.time, source: r.data.source, stream: r.data.stream, text: r.data.text });
  }
  return out;
}

export default defineCommand({
  path: ['devices', 'logs'],
  summary: "Print a device's recent logs; --follow keeps printing new lines (Ctrl-C stops).",
  args: [{ name: 'id', description: 'device id' }],
  options: [
    { flags: '--source <name>', description: 'only this container (or agent/system)' },
    { flags: '-n, --lines <n>', description: 'recent lines to print first (default 100)' },
    { flags: '-f, --follow', description: 'stream new lines as the device sends them' },
  ],
  json: true,
  input: DevicesLogsInput,
  async run(input, ctx) {
    const hub = await ctx.hub();
    const print = printer(ctx, input.json);
    // Subscribe before reading history so that no line falls between the two; lines seen in
    // both are printed once.
    const follow = new AbortController();
    const stop = () => follow.abort();
    ctx.signal.addEventListener('abort', stop, { once: true });
    const events = input.follow
      ? hub.events({ deviceId: input.id, type: ['device.logs'] }, follow.signal)
      : undefined;
    const first = events?.next();
    // Awaited below, after the history; until then a refusal must not count as unhandled.
    first?.catch(() => undefined);
    try {
      const page = await hub.deviceLogs(input.id, {
        limit: input.lines,
        ...(input.source ? { source: input.source } : {}),
      });
      const history: Line[] = page.items
        .reverse()
        .map((l) => ({ at: l.at, source: l.source, stream: l.stream, text: l.text }));
      if (!events) {
        if (input.json) return { data: history, text: '' };
        return {
          data: history,
          text: history.map((l) => `${l.at} ${l.source}[${l.stream}] ${l.text}\n`).join(''),
        };
      }
      const seen = new Set(history.map(keyOf));
      for (const l of history) print(l);
      try {
        let next = await first!;
        while (!next.done) {
          for (const l of linesOfEvent(next.value, input.source)) if (!seen.delete(keyOf(l))) print(l);
          next = await events.next();
        }
      } catch (e) {
        if (follow.signal.aborted) return undefined;
        throw e;
      }
      if (follow.signal.aborted) return undefined;
      throw new HubctlError('the hub closed the log stream', 'run the command again to resume following');
    } finally {
      ctx.signal.removeEventListener('abort', stop);
      follow.abort();
      await events?.return(undefined).catch(() => undefined);
    }
  },
});

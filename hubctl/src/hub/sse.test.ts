import { describe, expect, it } from 'vitest';
import { parseSseStream, type SseMessage } from './sse.js';

async function collect(chunks: string[]): Promise<SseMessage[]> {
  const out: SseMessage[] = [];
  for await (const m of parseSseStream(
    (async function* () {
      for (const c of chunks) yield Buffer.from(c);
    })(),
  ))
    out.push(m);
  return out;
}

describe('server-sent events', () => {
  it('parses events split anywhere across chunks, skipping comments', async () => {
    const text =
      ': connected\n\nevent: device.logs\ndata: {"a":1}\n\n: keep-alive\n\nevent: x\r\ndata: line1\r\ndata:line2\r\n\r\n';
    for (const size of [1, 2, 3, 7, text.length]) {
      const chunks: string[] = [];
      for (let i = 0; i < text.length; i += size) chunks.push(text.slice(i, i + size));
      expect(await collect(chunks)).toEqual([
        { event: 'device.logs', data: '{"a":1}' },
        { event: 'x', data: 'line1\nline2' },
      ]);
    }
  });

  it('does not dispatch an event the stream cut before its blank line', async () => {
    expect(await collect(['event: a\ndata: 1\n\nevent: b\ndata: 2\n'])).toEqual([{ event: 'a', data: '1' }]);
  });

  it('decodes multi-byte characters split between chunks', async () => {
    const bytes = Buffer.from('data: ünïcødé\n\n');
    const out: SseMessage[] = [];
    for await (const m of parseSseStream(
      (async function* () {
        for (const b of bytes) yield Buffer.from([b]);
      })(),
    ))
      out.push(m);
    expect(out).toEqual([{ event: 'message', data: 'ünïcødé' }]);
  });
});

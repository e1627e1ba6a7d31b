/** One server-sent event: `event:` (default "message") and the joined `data:` lines. */
export interface SseMessage {
  event: string;
  data: string;
}

/**
 * Parses a text/event-stream (WHATWG rules that matter here): lines end in \n, \r\n or \r; a
 * blank line dispatches; `:` lines are comments (the hub's keep-alives); several `data:` lines
 * join with \n; one leading space after the colon is dropped. Chunks may split anywhere.
 */
export async function* parseSseStream(
  chunks: AsyncIterable<Buffer | string | Uint8Array>,
): AsyncGenerator<SseMessage> {
  const decoder = new TextDecoder();
  let buffer = '';
  let event = '';
  let data: string[] = [];
  for await (const chunk of chunks) {
    buffer += typeof chunk === 'string' ? chunk : decoder.decode(chunk, { stream: true });
    for (;;) {
      const m = /\r\n|\r|\n/.exec(buffer);
      // A lone \r at the end may be the first half of \r\n: wait for more.
      if (!m || (m[0] === '\r' && m.index === buffer.length - 1)) break;
      const line = buffer.slice(0, m.index);
      buffer = buffer.slice(m.index + m[0].length);
      if (line === '') {
        if (data.length > 0) yield { event: event || 'message', data: data.join('\n') };
        event = '';
        data = [];
        continue;
      }
      if (line.startsWith(':')) continue;
      const colon = line.indexOf(':');
      const field = colon === -1 ? line : line.slice(0, colon);
      let value = colon === -1 ? '' : line.slice(colon + 1);
      if (value.startsWith(' ')) value = value.slice(1);
      if (field === 'event') event = value;
      else if (field === 'data') data.push(value);
    }
  }
}

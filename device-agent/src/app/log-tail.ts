import { open, stat } from 'node:fs/promises';

/**
 * Follows a container's console log file (LXC writes it, rotating to `.1` at a size limit).
 * Polling, not inotify: the file is written by the LXC monitor, and a poll every few hundred
 * milliseconds costs less on a small board than a watcher per container that must be re-armed
 * at each rotation. A file that shrank was rotated: reading restarts at its beginning.
 */
export class ConsoleTail {
  private offset: number;
  private partial = '';

  constructor(
    private readonly path: string,
    startAt: 'start' | 'end',
    size = 0,
  ) {
    this.offset = startAt === 'end' ? size : 0;
  }

  static async open(path: string, startAt: 'start' | 'end'): Promise<ConsoleTail> {
    const size =
      startAt === 'end'
        ? await stat(path).then(
            (s) => s.size,
            () => 0,
          )
        : 0;
    return new ConsoleTail(path, startAt, size);
  }

  /** New complete lines since the last call (a line still being written waits for its newline). */
  async read(): Promise<string[]> {
    const raw = await this.readBytes();
    if (raw === '') return [];
    const text = this.partial + raw;
    const lines = text.split('\n');
    this.partial = lines.pop() ?? '';
    // The console is a pty: lines end in CRLF.
    return lines.map((l) => (l.endsWith('\r') ? l.slice(0, -1) : l));
  }

  /** New bytes since the last call, as they are (for a follow stream). */
  async readBytes(): Promise<string> {
    let size: number;
    try {
      size = (await stat(this.path)).size;
    } catch {
      return '';
    }
    if (size < this.offset) this.offset = 0;
    if (size === this.offset) return '';
    const fh = await open(this.path, 'r');
    try {
      const len = Math.min(size - this.offset, 1 << 20);
      const buf = Buffer.alloc(len);
      const { bytesRead } = await fh.read(buf, 0, len, this.offset);
      this.offset += bytesRead;
      return buf.subarray(0, bytesRead).toString('utf8');
    } finally {
      await fh.close();
    }
  }
}

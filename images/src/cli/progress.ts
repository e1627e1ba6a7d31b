/** A one-line progress bar on stderr (redrawn in place on a TTY, every 10 % otherwise). */
export interface TextSink {
  isTTY?: boolean;
  write(text: string): unknown;
}

export function progressBar(
  stream: TextSink = process.stderr,
): (done: number, total: number, label: string) => void {
  let lastPct = -1;
  let lastLabel = '';
  return (done, total, label) => {
    const pct = total > 0 ? Math.floor((done / total) * 100) : 100;
    if (pct === lastPct && label === lastLabel) return;
    if (!stream.isTTY && label === lastLabel && pct % 10 !== 0) return;
    lastPct = pct;
    const width = 30;
    const filled = Math.round((pct / 100) * width);
    const line = `${label.padEnd(7)} [${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${String(pct).padStart(3)}% ${(done / 2 ** 20).toFixed(1)}/${(total / 2 ** 20).toFixed(1)} MiB`;
    if (stream.isTTY) stream.write(`\r${line}${pct === 100 ? '\n' : ''}`);
    else stream.write(`${line}\n`);
    lastLabel = label;
  };
}

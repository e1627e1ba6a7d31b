import { encodeMessage, type MessageBodyInput, type UplinkKind } from '@fleet/protocol';

// Builders with defaults for device → hub messages (CONVENTIONS 12).

export const aReport = (over: Partial<MessageBodyInput<'report'>> = {}): MessageBodyInput<'report'> => ({
  revision: null,
  updateState: 'idle',
  board: 'qemu-aarch64',
  agentVersion: '1.0.0',
  containers: [{ name: 'web', state: 'running', restarts: 0 }],
  inventory: { objects: [], freeBytes: 1_000_000, totalBytes: 2_000_000 },
  ...over,
});

export const aSample = (
  time: Date,
  over: Partial<MessageBodyInput<'telemetry'>['samples'][number]> = {},
) => ({
  time: time.toISOString(),
  cpuPercent: 12.5,
  memUsedBytes: 100_000,
  memTotalBytes: 200_000,
  diskUsedBytes: 300_000,
  diskTotalBytes: 400_000,
  ...over,
});

export const aProgress = (
  over: Partial<MessageBodyInput<'progress'>> = {},
): MessageBodyInput<'progress'> => ({
  updateId: 'u-1',
  revision: { digest: `sha256:${'a'.repeat(64)}`, version: '1.0.0', sequence: 1 },
  state: 'downloading',
  status: 'downloading',
  percent: 10,
  ...over,
});

/** The wire bytes of a message (valid by construction: encodeMessage validates). */
export function wire<K extends UplinkKind>(
  kind: K,
  body: MessageBodyInput<K>,
  opts: { id?: string; time?: Date } = {},
): Buffer {
  const encoded = encodeMessage(kind, body, opts);
  if (!encoded.ok) throw encoded.error;
  return encoded.value.payload;
}

export type Tone = 'ok' | 'warn' | 'bad' | 'info' | 'muted';

export function Badge({ tone, children }: { tone: Tone; children: React.ReactNode }) {
  return <span className={`badge ${tone}`}>{children}</span>;
}

/** Online/offline dot with its word, never color alone. */
export function PresenceBadge({ online }: { online: boolean }) {
  return <Badge tone={online ? 'ok' : 'muted'}>{online ? '● online' : '○ offline'}</Badge>;
}

// Every example in docs/formats.md marked `<!-- check: Schema -->` must parse with that schema,
// so the documentation cannot drift from protocol/.
import { readFileSync } from 'node:fs';
import {
  decodeMessage,
  parseAgentConfig,
  parseProvisionRequest,
  parseProvisionResponse,
  parseReleaseManifest,
  parseWith,
  TOPIC_KINDS,
  TrustRoot,
  verifyManifest,
  type Result,
  type TopicKind,
} from '@fleet/protocol';
import { describe, expect, it } from 'vitest';

const text = readFileSync(new URL('../docs/formats.md', import.meta.url), 'utf8');
const blocks = [
  ...text.matchAll(/<!-- check: (\S+)( signed-by-previous)? -->\n```json\n([\s\S]*?)\n```/g),
].map((m) => ({
  schema: m[1]!,
  signed: Boolean(m[2]),
  json: JSON.parse(m[3]!) as unknown,
}));

function parse(schema: string, json: unknown): Result<unknown> {
  if (schema.startsWith('mqtt:')) {
    const kind = schema.slice(5) as TopicKind;
    expect(TOPIC_KINDS).toContain(kind);
    return decodeMessage(kind, JSON.stringify(json));
  }
  const parsers: Record<string, (x: unknown) => Result<unknown>> = {
    TrustRoot: (x) => parseWith('TrustRoot', TrustRoot, x),
    ReleaseManifest: parseReleaseManifest,
    ProvisionRequest: parseProvisionRequest,
    ProvisionResponse: parseProvisionResponse,
    AgentConfig: parseAgentConfig,
  };
  const p = parsers[schema];
  if (!p) throw new Error(`docs/formats.md names an unknown schema: ${schema}`);
  return p(json);
}

describe('docs/formats.md examples', () => {
  it('has examples to check', () => {
    expect(blocks.length).toBeGreaterThanOrEqual(9);
  });

  it.each(blocks.map((b, i) => [`${i}: ${b.schema}`, b] as const))('%s parses', (_n, block) => {
    const r = parse(block.schema, block.json);
    if (!r.ok) throw r.error;
  });

  it('the signed release verifies with the documented trust root and is in normal form', () => {
    const i = blocks.findIndex((b) => b.signed);
    const root = blocks[i - 1]!.json as TrustRoot;
    const signed = blocks[i]!.json;
    expect(verifyManifest(signed, [root]).ok).toBe(true);
    const parsed = parseReleaseManifest(signed);
    expect(parsed.ok && parsed.value).toEqual(signed);
    // The author's short form parses to the same document.
    const short = parseReleaseManifest(blocks[i + 1]!.json);
    expect(
      short.ok && { ...short.value, signatures: (signed as { signatures: unknown }).signatures },
    ).toEqual(signed);
  });
});
